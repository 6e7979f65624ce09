"""Exposed frames: the metric itself, and the default settings on real faces in video."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from models.vision.detect.base import Box
from models.vision.detect.centerface import CenterFace
from models.vision.detect_stage import DetectParams, detect_and_track
from models.vision.exposure import (
    REFERENCE_THRESHOLD,
    covered_fraction,
    exposed_frames,
    reference_boxes,
)
from models.vision.track import TrackParams, clip_box, frame_boxes, scale_box
from models.vision.video import decode_frames
from tests.models.detect_fixtures import GRID_CLIPS, make_cuts, make_pan, media, model_cache

FACE = (100.0, 100.0, 140.0, 150.0)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_cache(tmp_path_factory)


def test_covered_fraction() -> None:
    assert covered_fraction(FACE, [FACE]) == 1.0
    assert covered_fraction(FACE, []) == 0.0
    left, right = (90.0, 90.0, 120.0, 160.0), (120.0, 90.0, 150.0, 160.0)
    assert 0.4 < covered_fraction(FACE, [left]) < 0.6
    assert covered_fraction(FACE, [left, right], shape="box") == 1.0  # a union covers
    assert covered_fraction(FACE, [scale_box(FACE, 1.1)]) == 1.0
    shifted = (115.0, 100.0, 155.0, 150.0)
    assert covered_fraction(FACE, [shifted]) < 0.8


def test_exposed_frames_lists_frames_with_an_uncovered_face() -> None:
    other = (300.0, 100.0, 340.0, 150.0)
    reference = [[FACE], [FACE, other], [], [other]]
    covers = [[scale_box(FACE, 1.3)], [scale_box(FACE, 1.3)], [(0.0, 0.0, 10.0, 10.0)]]
    report = exposed_frames(reference, covers)
    assert report.frames == [1, 3]
    assert (report.reference_faces, report.exposed_faces, report.reference_frames) == (4, 2, 3)
    assert report.exposed == {1: [other], 3: [other]}
    assert report.to_json()["exposed_frames"] == 2


def _reference(path: Path, cache: Path) -> list[list[Box]]:
    return reference_boxes(path, CenterFace(cache, threshold=REFERENCE_THRESHOLD, device="cpu"))


def _exposed(
    path: Path, cache: Path, params: DetectParams, reference: list[list[Box]] | None = None
) -> tuple[int, int, int]:
    """(exposed frames, frames detected on, frames) for `params` on `path`."""
    reference = reference if reference is not None else _reference(path, cache)
    detector = CenterFace(cache, threshold=params.track.low_threshold, device="cpu")
    result = detect_and_track(path, detector, params)
    covers = frame_boxes(result.tracks, len(result.frame_times))
    assert len(reference) == len(covers)
    return len(exposed_frames(reference, covers).frames), result.detect_frames, len(covers)


@pytest.mark.parametrize("clip", GRID_CLIPS)
def test_default_settings_expose_no_frame_of_the_grid_clips(cache: Path, clip: str) -> None:
    exposed, detected, frames = _exposed(media("av", clip), cache, DetectParams())
    print(f"{clip}: {exposed} exposed frames, detector ran on {detected}/{frames} frames")
    assert exposed == 0
    assert detected < frames / 2


def _per_frame_like_deface(path: Path, cache: Path) -> list[list[Box]]:
    """deface's coverage: detection on every frame at its default 0.2, boxes scaled 1.3."""
    detector = CenterFace(cache, threshold=0.2, device="cpu")
    out = []
    for frame in decode_frames(path):
        width, height = frame.size
        found = detector.detect([frame.rgb()])[0]
        out.append([clip_box(scale_box(d.box, 1.3), width, height) for d in found])
    return out


@pytest.mark.slow
@pytest.mark.parametrize("make", [make_pan, make_cuts], ids=["pan", "cuts"])
def test_tracking_exposes_fewer_frames_than_per_frame_detection(
    cache: Path, tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    path = make(tmp_path / "clip.mp4")
    reference = _reference(path, cache)
    exposed, detected, frames = _exposed(path, cache, DetectParams(), reference)
    per_frame = len(exposed_frames(reference, _per_frame_like_deface(path, cache)).frames)
    print(f"ours {exposed} exposed, detector on {detected}/{frames}; per-frame {per_frame}")
    assert detected < frames
    assert exposed < per_frame
    assert exposed <= 0.05 * frames


def test_metric_catches_gaps_without_extension(cache: Path, tmp_path: Path) -> None:
    # Detect on every 6th frame with no extension: faces that appear right after a cut
    # stay visible until the next detection, and the metric must say so.
    bare = DetectParams(
        track=TrackParams(
            detect_every=6, max_detect_every=6, adaptive=False, extend_frames=0, link_gap=0
        )
    )
    cuts = make_cuts(tmp_path / "cuts.mp4", size=(320, 240))
    exposed, detected, frames = _exposed(cuts, cache, bare)
    assert detected == -(-frames // 6)
    assert exposed >= 3
