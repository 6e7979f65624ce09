"""What every detector returns, and the interface they share.

Frames are RGB `uint8` arrays of shape (height, width, 3) everywhere in Custos; a
detector that needs BGR converts internally. Boxes are in the pixel coordinates of the
frame they were found in (x to the right, y down, x2/y2 exclusive edges).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

CATEGORIES = ("face", "person", "plate", "screen", "document")

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Detection:
    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    category: str

    @property
    def box(self) -> Box:
        return (self.x1, self.y1, self.x2, self.y2)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    def scaled(self, sx: float, sy: float) -> Detection:
        """The same detection in a frame resized by (sx, sy)."""
        return Detection(
            self.x1 * sx, self.y1 * sy, self.x2 * sx, self.y2 * sy, self.score, self.category
        )


@runtime_checkable
class Detector(Protocol):
    """Finds privacy regions in a batch of frames of the same size."""

    @property
    def identity(self) -> dict[str, str]:
        """What determines the output (model file digest, version), for parameter hashes."""
        ...

    def detect(self, frames: list[np.ndarray]) -> list[list[Detection]]: ...


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best first."""
    if len(boxes) == 0:
        return np.empty(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        ix = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        iy = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = ix * iy
        union = areas[i] + areas[rest] - inter
        overlap = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
        order = rest[overlap < iou_threshold]
    return np.asarray(keep, dtype=np.int64)
