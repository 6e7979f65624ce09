"""ultralytics YOLO for any weights file, its classes mapped to Custos categories.

Weights are never downloaded: a `.pt`/`.onnx`/... path must exist on disk; a `.yaml`
model description builds an untrained network (what the tests use). On a GPU frames
go through in batches at half precision.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from models.vision.detect.base import CATEGORIES, Detection
from models.vision.detect.errors import BadClassMap, ModelUnavailable
from models.vision.detect.offline import import_ultralytics

Device = Literal["auto", "cpu", "cuda"]

# Class names of common models (COCO and face/plate models) that mean a Custos category.
NAME_ALIASES = {
    "face": "face",
    "person": "person",
    "plate": "plate",
    "license_plate": "plate",
    "license plate": "plate",
    "licence plate": "plate",
    "licence_plate": "plate",
    "screen": "screen",
    "monitor": "screen",
    "tv": "screen",
    "tvmonitor": "screen",
    "laptop": "screen",
    "cell phone": "screen",
    "document": "document",
    "book": "document",
}


def parse_class_map(spec: str | None, names: dict[int, str]) -> dict[int, str]:
    """Model class index -> Custos category.

    `spec` is "0:person,2:plate" (keys may be class indices or class names), a path to a
    YAML mapping of the same, or None to map the model's class names that are known
    aliases of a category (COCO "person", "tv", "laptop", "cell phone", "book" ...).
    """
    by_name = {name.lower(): index for index, name in names.items()}
    if spec is None:
        found = {i: NAME_ALIASES[n.lower()] for i, n in names.items() if n.lower() in NAME_ALIASES}
        if not found:
            raise BadClassMap(
                "no class of this model is a Custos category; set CUSTOS_YOLO_CLASS_MAP"
            )
        return found
    entries: dict[object, object]
    path = Path(spec)
    if spec.strip().endswith((".yaml", ".yml")) or path.is_file():
        loaded = yaml.safe_load(path.read_text())
        if not isinstance(loaded, dict):
            raise BadClassMap(f"{spec}: expected a mapping of class to category")
        entries = dict(loaded)
    else:
        entries = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, target = part.rpartition(":")
            if not sep or not name.strip():
                raise BadClassMap(f"class map entry {part!r} is not CLASS:CATEGORY")
            entries[name.strip()] = target.strip()
    out: dict[int, str] = {}
    for key, value in entries.items():
        category = str(value).strip().lower()
        if category not in CATEGORIES:
            raise BadClassMap(f"unknown category {value!r}; choose from {', '.join(CATEGORIES)}")
        text = str(key).strip()
        if text.isdigit() and int(text) in names:
            out[int(text)] = category
        elif text.lower() in by_name:
            out[by_name[text.lower()]] = category
        else:
            raise BadClassMap(f"the model has no class {key!r}")
    if not out:
        raise BadClassMap("the class map is empty")
    return out


def torch_device(device: Device) -> str:
    import torch

    has_cuda = bool(torch.cuda.is_available())
    if device == "cuda" and not has_cuda:
        raise ModelUnavailable("device=cuda but torch sees no CUDA device")
    return "cuda:0" if device != "cpu" and has_cuda else "cpu"


@lru_cache(maxsize=4)
def _load(weights: str) -> Any:
    import_ultralytics()
    from ultralytics import YOLO  # type: ignore[attr-defined]

    return YOLO(weights, task="detect")


def _weights_identity(weights: str) -> str:
    path = Path(weights)
    if path.is_file():
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()[:16]
    return f"untrained:{path.name}"


class Yolo:
    def __init__(
        self,
        weights: Path | str,
        *,
        class_map: str | None = None,
        threshold: float = 0.25,
        device: Device = "auto",
        imgsz: int = 640,
    ) -> None:
        weights = str(weights)
        if not weights.endswith((".yaml", ".yml")) and not Path(weights).is_file():
            # ultralytics would fetch a missing file from the internet; we never do.
            raise ModelUnavailable(f"YOLO weights not found: {weights}")
        self.model = _load(weights)
        self.device = torch_device(device)
        self.half = self.device.startswith("cuda")
        self.threshold = threshold
        self.imgsz = imgsz
        names = {int(k): str(v) for k, v in dict(self.model.names).items()}
        self.class_map = parse_class_map(class_map, names)
        self._identity = {
            "model": "yolo",
            "weights": _weights_identity(weights),
            "classes": ",".join(f"{k}:{v}" for k, v in sorted(self.class_map.items())),
            "imgsz": str(imgsz),
        }

    @property
    def identity(self) -> dict[str, str]:
        return dict(self._identity)

    @property
    def on_gpu(self) -> bool:
        return self.half

    def detect(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        if not frames:
            return []
        bgr = [np.ascontiguousarray(f[..., ::-1]) for f in frames]
        results = self.model.predict(
            bgr,
            conf=self.threshold,
            classes=sorted(self.class_map),
            device=self.device,
            quantize=16 if self.half else None,
            imgsz=self.imgsz,
            batch=len(bgr),
            verbose=False,
        )
        out: list[list[Detection]] = []
        for result in results:
            boxes = result.boxes
            xyxy = boxes.xyxy.cpu().numpy()
            conf = boxes.conf.cpu().numpy()
            cls = boxes.cls.cpu().numpy().astype(int)
            out.append(
                [
                    Detection(
                        float(b[0]),
                        float(b[1]),
                        float(b[2]),
                        float(b[3]),
                        float(s),
                        self.class_map[c],
                    )
                    for b, s, c in zip(xyxy, conf, cls, strict=True)
                    if c in self.class_map
                ]
            )
        return out
