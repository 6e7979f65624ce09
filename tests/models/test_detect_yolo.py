"""YOLO built from its YAML (no weights anywhere), class maps, and no network access."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.vision.detect import MultiDetector, load_detector
from models.vision.detect.base import CATEGORIES, Detection
from models.vision.detect.errors import BadClassMap, ModelUnavailable
from models.vision.detect.yolo import Yolo, parse_class_map
from storage.config import Settings

COCO_LIKE = {0: "person", 2: "car", 62: "tv", 63: "laptop", 73: "book"}


def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_yolo_from_yaml_detects_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_network(monkeypatch)
    # An untrained network scores everything near zero; a tiny threshold still makes
    # it return boxes, which is what this smoke test needs to check the plumbing.
    yolo = Yolo(
        "yolov8n.yaml", class_map="0:person,2:plate,62:screen", threshold=1e-4, device="cpu"
    )
    frames = [np.full((360, 640, 3), v, dtype=np.uint8) for v in (40, 200)]
    frames[1][100:200, 100:300] = 0
    found = yolo.detect(frames)

    import ultralytics.utils

    assert ultralytics.utils.ONLINE is False
    assert len(found) == 2
    assert any(found), "an untrained model at threshold 1e-4 still returns boxes"
    for per_frame in found:
        for det in per_frame:
            assert isinstance(det, Detection)
            assert det.category in {"person", "plate", "screen"}
            assert 0 <= det.x1 <= det.x2 <= 640 and 0 <= det.y1 <= det.y2 <= 360
            assert det.score >= 1e-4
    assert yolo.identity["weights"] == "untrained:yolov8n.yaml"
    assert yolo.identity["classes"] == "0:person,2:plate,62:screen"
    assert yolo.detect([]) == []


def test_missing_weights_are_not_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_network(monkeypatch)
    with pytest.raises(ModelUnavailable, match="not found"):
        Yolo(tmp_path / "yolov8n.pt")
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(ModelUnavailable, match="CUSTOS_YOLO_WEIGHTS"):
        load_detector("yolo", settings, threshold=0.2)


def test_load_detector_from_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        device="cpu",
        yolo_weights=Path("yolov8n.yaml"),
        yolo_class_map="0:person",
    )
    yolo = load_detector("yolo", settings, threshold=0.3)
    assert isinstance(yolo, Yolo) and yolo.class_map == {0: "person"} and yolo.threshold == 0.3
    face = load_detector("centerface", settings, threshold=0.1)
    both = MultiDetector([face, yolo])
    frame = np.zeros((64, 96, 3), dtype=np.uint8)
    assert both.detect([frame, frame]) == [[], []]
    assert both.identity["0.model"] == "centerface" and both.identity["1.model"] == "yolo"


def test_class_map_forms(tmp_path: Path) -> None:
    assert parse_class_map("0:person, tv:screen,laptop:screen", COCO_LIKE) == {
        0: "person",
        62: "screen",
        63: "screen",
    }
    mapping = tmp_path / "classes.yaml"
    mapping.write_text("0: person\nbook: document\n")
    assert parse_class_map(str(mapping), COCO_LIKE) == {0: "person", 73: "document"}
    # Without a map, known class names stand for their category.
    assert parse_class_map(None, COCO_LIKE) == {
        0: "person",
        62: "screen",
        63: "screen",
        73: "document",
    }
    assert set(parse_class_map(None, COCO_LIKE).values()) <= set(CATEGORIES)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0:car", "unknown category"),
        ("99:person", "no class"),
        ("bicycle:person", "no class"),
        ("person", "not CLASS:CATEGORY"),
        (",", "empty"),
    ],
)
def test_bad_class_maps_refused(spec: str, message: str) -> None:
    with pytest.raises(BadClassMap, match=message):
        parse_class_map(spec, COCO_LIKE)


def test_model_without_known_classes_needs_a_map() -> None:
    with pytest.raises(BadClassMap, match="CUSTOS_YOLO_CLASS_MAP"):
        parse_class_map(None, {0: "0", 1: "1"})
