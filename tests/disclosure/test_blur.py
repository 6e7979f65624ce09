"""Obscuring boxes: what changes, what does not, and real faces losing their detail."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from disclosure.blur import obscure
from models.vision.track import scale_box
from tests.models.detect_fixtures import labelled_faces, media

BOX = (20.0, 10.0, 80.0, 70.0)


def _noise(height: int = 100, width: int = 120) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a != b).any(axis=2))


def test_ellipse_blur_changes_only_the_inscribed_ellipse() -> None:
    frame = _noise()
    out = obscure(frame, [BOX])
    changed = _changed(frame, out)
    assert changed[40, 50]  # centre
    assert not changed[11, 21] and not changed[68, 78]  # box corners lie outside the ellipse
    assert not changed[:10].any() and not changed[:, 81:].any()  # outside the box
    assert 0.7 < changed[10:70, 20:80].mean() < 0.82  # about pi/4 of the box
    assert np.array_equal(frame, _noise())  # input untouched unless asked


def test_box_mode_pixelate_solid_and_in_place() -> None:
    frame = _noise()
    boxed = obscure(frame, [BOX], ellipse=False)
    assert _changed(frame, boxed)[10:70, 20:80].mean() > 0.95
    pixelated = obscure(frame, [BOX], method="pixelate", blocks=6, ellipse=False)
    region = pixelated[10:70, 20:80]
    assert len(np.unique(region.reshape(-1, 3), axis=0)) <= 36  # 6 x 6 blocks
    solid = obscure(frame, [BOX], method="solid", ellipse=False)
    assert not solid[10:70, 20:80].any()
    same = frame.copy()
    returned = obscure(same, [BOX], inplace=True)
    assert returned is same and _changed(frame, same)[40, 50]


def test_boxes_partly_or_wholly_outside_the_frame() -> None:
    frame = _noise()
    out = obscure(frame, [(-30.0, -20.0, 30.0, 40.0), (500.0, 500.0, 600.0, 600.0), (5, 5, 5, 9)])
    changed = _changed(frame, out)
    assert changed[5, 5] and not changed[60:, 40:].any()


def test_blurred_real_faces_lose_their_detail() -> None:
    for name, labels in labelled_faces().items():
        image = cv2.imread(str(media("faces", "pascal_voc", name)))
        assert image is not None
        rgb = np.ascontiguousarray(image[..., ::-1])
        out = obscure(rgb, [scale_box(box, 1.3) for box in labels])
        for x1, y1, x2, y2 in labels:
            # The middle of the face (eyes, nose, mouth) is where identity lives.
            cx, cy, r = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 4
            sl = np.s_[int(cy - r) : int(cy + r), int(cx - r) : int(cx + r)]
            before = cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F)[sl].var()
            after = cv2.Laplacian(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), cv2.CV_64F)[sl].var()
            assert after < 0.1 * before, (name, (x1, y1), before, after)
        outside = np.ones(rgb.shape[:2], dtype=bool)
        for x1, y1, x2, y2 in (scale_box(b, 1.3) for b in labels):
            outside[max(0, int(y1)) : int(np.ceil(y2)), max(0, int(x1)) : int(np.ceil(x2))] = False
        assert not _changed(rgb, out)[outside].any()


@pytest.mark.parametrize("method", ["blur", "pixelate", "solid"])
def test_empty_box_list_is_a_copy(method: str) -> None:
    frame = _noise()
    out = obscure(frame, [], method=method)  # type: ignore[arg-type]
    assert np.array_equal(out, frame) and out is not frame
