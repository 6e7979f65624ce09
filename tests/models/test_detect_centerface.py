"""CenterFace on real faces: recall of the labelled PASCAL faces, batches, the cached graph."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from models.vision.detect.base import Detection, iou
from models.vision.detect.centerface import CenterFace, dynamic_model, onnx_providers, shipped_model
from models.vision.detect.errors import ModelUnavailable
from models.vision.track import TrackParams
from tests.models.detect_fixtures import labelled_faces, media, model_cache

# Criterion: a labelled face is found when a distinct detection overlaps it with
# IoU >= 0.4 (labels are square, CenterFace boxes are taller, so 0.5 would be unfair
# to correct detections; the weakest correct match here is about 0.5).
MATCH_IOU = 0.4


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_cache(tmp_path_factory)


def _rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, path
    return np.ascontiguousarray(image[..., ::-1])


def _matched(labels: list[tuple[float, float, float, float]], found: list[Detection]) -> int:
    """Greedy one-to-one matching of labels to detections, best overlap first."""
    pairs = sorted(
        (
            (iou(label, det.box), li, di)
            for li, label in enumerate(labels)
            for di, det in enumerate(found)
        ),
        reverse=True,
    )
    used_labels: set[int] = set()
    used_dets: set[int] = set()
    for overlap, li, di in pairs:
        if overlap < MATCH_IOU:
            break
        if li not in used_labels and di not in used_dets:
            used_labels.add(li)
            used_dets.add(di)
    return len(used_labels)


@pytest.mark.parametrize("threshold", [TrackParams().new_threshold, 0.5])
def test_recall_of_labelled_faces(cache: Path, threshold: float) -> None:
    detector = CenterFace(cache, threshold=threshold, device="cpu")
    labels = labelled_faces()
    found = total = 0
    for name, boxes in labels.items():
        detections = detector.detect([_rgb(media("faces", "pascal_voc", name))])[0]
        assert all(d.category == "face" and d.score >= threshold for d in detections)
        found += _matched(boxes, detections)
        total += len(boxes)
    print(f"recall at threshold {threshold}: {found}/{total}")
    assert total == 18
    assert found == total


def test_batch_gives_the_same_boxes_as_single_frames(cache: Path) -> None:
    detector = CenterFace(cache, device="cpu")
    a = _rgb(media("faces", "pascal_voc", "2007_007763.jpg"))
    b = np.ascontiguousarray(a[:, ::-1])  # mirrored: same size, different faces positions
    batched = detector.detect([a, b])
    single = [detector.detect([a])[0], detector.detect([b])[0]]
    for got, want in zip(batched, single, strict=True):
        assert len(got) == len(want) > 5
        for g, w in zip(got, want, strict=True):
            assert np.allclose(g.box, w.box, atol=0.5) and abs(g.score - w.score) < 1e-3


def test_frames_of_any_size_and_mixed_batches_refused(cache: Path) -> None:
    detector = CenterFace(cache, device="cpu")
    face = _rgb(media("faces", "pascal_voc", "2008_001009.jpg"))  # 360x480, not /32
    assert len(detector.detect([face])[0]) >= 2
    assert detector.detect([]) == []
    with pytest.raises(ValueError, match="same size"):
        detector.detect([face, face[:100]])
    blank = np.zeros((97, 131, 3), dtype=np.uint8)
    assert detector.detect([blank]) == [[]]


def test_dynamic_graph_is_cached_once(cache: Path) -> None:
    first = dynamic_model(cache)
    mtime = first.stat().st_mtime_ns
    assert dynamic_model(cache) == first and first.stat().st_mtime_ns == mtime
    graph = onnx.load(str(first)).graph
    assert [i.name for i in graph.input] == ["input.1"]  # weights no longer listed as inputs
    dims = graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["B", 3, "H", "W"]
    assert shipped_model().is_file()


def test_providers() -> None:
    import onnxruntime as ort

    assert onnx_providers("cpu") == ("CPUExecutionProvider",)
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert onnx_providers("auto")[0] == "CUDAExecutionProvider"
    else:
        assert onnx_providers("auto") == ("CPUExecutionProvider",)
        with pytest.raises(ModelUnavailable, match="CUDA"):
            onnx_providers("cuda")
