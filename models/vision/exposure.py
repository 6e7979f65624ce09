"""The "exposed frames" metric: frames in which a face would be left visible.

The reference is a set of face boxes per frame, found by running a detector on every
frame at a low threshold (more thorough than any production setting). A reference
face is covered when at least `min_coverage` of its area is inside the union of the
covering shapes of that frame; the face's area is taken as the ellipse inscribed in
its box, and the covering shapes are ellipses inscribed in the track boxes, matching
how Custos and deface blur. Coverage is measured on a grid of sample points, so a face
covered half by one track box and half by another counts as covered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from models.vision.detect.base import Box, Detector
from models.vision.video import decode_frames

Shape = Literal["ellipse", "box"]

_GRID = 24  # sample points per side of a reference box

# Reference detections: every frame, full resolution, this threshold. Lower than any
# production setting we compare (deface's default is 0.2), so partly visible and
# turned faces count too.
REFERENCE_THRESHOLD = 0.1


@dataclass
class ExposureReport:
    frames: list[int]  # frames with at least one exposed reference face
    reference_faces: int  # reference boxes, all frames together
    exposed_faces: int
    reference_frames: int  # frames with at least one reference face
    exposed: dict[int, list[Box]] = field(default_factory=dict)  # per frame, the faces left out

    def to_json(self) -> dict[str, object]:
        return {
            "exposed_frames": len(self.frames),
            "frames": self.frames,
            "reference_faces": self.reference_faces,
            "exposed_faces": self.exposed_faces,
            "reference_frames": self.reference_frames,
        }


def _samples(face: Box, shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    ticks = (np.arange(_GRID) + 0.5) / _GRID
    grid_u, grid_v = np.meshgrid(ticks, ticks)
    u, v = grid_u.ravel(), grid_v.ravel()
    if shape == "ellipse":
        inside = (u - 0.5) ** 2 + (v - 0.5) ** 2 <= 0.25
        u, v = u[inside], v[inside]
    return face[0] + u * (face[2] - face[0]), face[1] + v * (face[3] - face[1])


def _inside(xs: np.ndarray, ys: np.ndarray, cover: Box, shape: Shape) -> np.ndarray:
    x1, y1, x2, y2 = cover
    if x2 <= x1 or y2 <= y1:
        return np.zeros(xs.shape, dtype=bool)
    if shape == "box":
        return (xs >= x1) & (xs <= x2) & (ys >= y1) & (ys <= y2)
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    return ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0


def reference_boxes(path: Path, detector: Detector) -> list[list[Box]]:
    """Face boxes of every frame of `path` at full resolution (the reference)."""
    return [[d.box for d in detector.detect([f.rgb()])[0]] for f in decode_frames(path)]


def covered_fraction(face: Box, covers: Sequence[Box], shape: Shape = "ellipse") -> float:
    """Share of the face (its inscribed ellipse) inside the union of `covers`."""
    xs, ys = _samples(face, "ellipse")
    if xs.size == 0:
        return 1.0
    hit = np.zeros(xs.shape, dtype=bool)
    for cover in covers:
        hit |= _inside(xs, ys, cover, shape)
    return float(hit.mean())


def exposed_frames(
    reference: Sequence[Sequence[Box]],
    covers: Sequence[Sequence[Box]],
    *,
    min_coverage: float = 0.9,
    shape: Shape = "ellipse",
) -> ExposureReport:
    """Frames in which some reference face is less than `min_coverage` covered.

    `reference[i]` and `covers[i]` are the face boxes and covering boxes of frame i;
    frames missing from `covers` (shorter list) have no covering boxes.
    """
    frames: list[int] = []
    exposed: dict[int, list[Box]] = {}
    total = exposed_count = with_faces = 0
    for index, faces in enumerate(reference):
        if not faces:
            continue
        with_faces += 1
        frame_covers = covers[index] if index < len(covers) else []
        left = [f for f in faces if covered_fraction(f, frame_covers, shape) < min_coverage]
        total += len(faces)
        if left:
            frames.append(index)
            exposed[index] = left
            exposed_count += len(left)
    return ExposureReport(frames, total, exposed_count, with_faces, exposed)
