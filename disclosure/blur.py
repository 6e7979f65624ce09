"""Obscuring regions of a frame: blur or pixelate, inside an ellipse or the whole box.

Boxes come from detectors/tracks (models.vision.track); this module only draws. The elliptical
blur follows deface's (a box filter half the region's size, applied inside the ellipse
inscribed in the box), so the result and the exposure metric's notion of "covered"
agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np

Box = tuple[float, float, float, float]
Method = Literal["blur", "pixelate", "solid"]


def _region(box: Box, width: int, height: int) -> tuple[int, int, int, int] | None:
    x1 = max(0, int(np.floor(box[0])))
    y1 = max(0, int(np.floor(box[1])))
    x2 = min(width, int(np.ceil(box[2])))
    y2 = min(height, int(np.ceil(box[3])))
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    return x1, y1, x2, y2


def _obscured(roi: np.ndarray, method: Method, blocks: int) -> np.ndarray:
    h, w = roi.shape[:2]
    if method == "solid":
        return np.zeros_like(roi)
    if method == "pixelate":
        small = cv2.resize(
            roi,
            (max(1, w * blocks // max(w, h)), max(1, h * blocks // max(w, h))),
            interpolation=cv2.INTER_AREA,
        )
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    # A box filter half the region's size leaves no recognisable detail (deface's choice)
    # and, unlike a Gaussian of that size, costs the same for any kernel size.
    return cv2.blur(roi, (max(1, w // 2), max(1, h // 2)))


def obscure(
    frame: np.ndarray,
    boxes: Sequence[Box],
    *,
    method: Method = "blur",
    ellipse: bool = True,
    blocks: int = 8,
    inplace: bool = False,
) -> np.ndarray:
    """`frame` (H x W x C) with every box obscured; a new array unless `inplace`.

    Overlapping boxes are each obscured in turn, so an overlap is blurred twice, which
    only makes it less legible.
    """
    out = frame if inplace else frame.copy()
    height, width = out.shape[:2]
    for box in boxes:
        region = _region(box, width, height)
        if region is None:
            continue
        x1, y1, x2, y2 = region
        roi = out[y1:y2, x1:x2]
        replaced = _obscured(roi, method, blocks)
        if ellipse:
            mask = np.zeros(roi.shape[:2], dtype=np.uint8)
            # Centre and axes of the ellipse inscribed in the requested (unclipped) box,
            # so a box cut by the frame edge keeps the right curvature.
            cx, cy = (box[0] + box[2]) / 2 - x1, (box[1] + box[3]) / 2 - y1
            ax, ay = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
            cv2.ellipse(
                mask,
                (int(round(cx * 16)), int(round(cy * 16))),
                (max(1, int(round(ax * 16))), max(1, int(round(ay * 16)))),
                0,
                0,
                360,
                255,
                thickness=-1,
                lineType=cv2.LINE_8,
                shift=4,
            )
            np.copyto(roi, replaced, where=mask.astype(bool)[..., None])
        else:
            roi[...] = replaced
    return out
