"""Tracks from sightings: interpolation, extension, joining, and the online tracker."""

from __future__ import annotations

import random

import pytest

from models.vision.detect.base import Box, Detection
from models.vision.track import (
    OnlineTracker,
    Sighting,
    Track,
    TrackParams,
    build_tracks,
    frame_boxes,
    scale_box,
)

SIZE = (640, 480)


def _contains(outer: Box, inner: Box, slack: float = 1e-6) -> bool:
    return (
        outer[0] <= inner[0] + slack
        and outer[1] <= inner[1] + slack
        and outer[2] >= inner[2] - slack
        and outer[3] >= inner[3] - slack
    )


def _sight(frame: int, box: Box, score: float = 0.9) -> Sighting:
    return Sighting(frame, frame / 25, box, score)


def _track(sightings: list[Sighting], first: int, last: int, **kw: float) -> Track:
    return Track(1, "face", sightings, first, last, SIZE, **kw)  # type: ignore[arg-type]


def test_frames_between_sightings_are_interpolated() -> None:
    a, b = (100.0, 100.0, 140.0, 150.0), (130.0, 110.0, 170.0, 160.0)
    track = _track([_sight(10, a), _sight(16, b)], 4, 22, pad=1.0)
    assert [track.kind_at(f) for f in (3, 4, 9, 10, 11, 15, 16, 17, 22, 23)] == [
        None,
        "extended",
        "extended",
        "detected",
        "interpolated",
        "interpolated",
        "detected",
        "extended",
        "extended",
        None,
    ]
    assert track.frame_runs() == [
        (4, 9, "extended"),
        (10, 10, "detected"),
        (11, 15, "interpolated"),
        (16, 16, "detected"),
        (17, 22, "extended"),
    ]
    assert track.counts() == {"detected": 2, "interpolated": 5, "extended": 12}
    assert track.box_at(10) == a and track.box_at(16) == b
    middle = track.box_at(13)
    assert middle is not None
    # The interpolated box and both sighted boxes (a jump at an unknown frame) are covered.
    assert _contains(middle, (115.0, 105.0, 155.0, 155.0)) and _contains(middle, a)
    assert _contains(middle, b)


def test_no_frame_between_two_sightings_is_left_uncovered() -> None:
    rng = random.Random(5)
    for _ in range(50):
        frames = sorted(rng.sample(range(200), rng.randint(2, 12)))
        sightings = []
        for f in frames:
            x, y, s = rng.uniform(0, 500), rng.uniform(0, 380), rng.uniform(10, 100)
            sightings.append(_sight(f, (x, y, x + s, y + s * 1.2)))
        track = _track(sightings, frames[0], frames[-1])
        for before, after in zip(sightings, sightings[1:], strict=False):
            for f in range(before.frame, after.frame + 1):
                box = track.box_at(f)
                assert box is not None and box[2] > box[0] and box[3] > box[1]
                t = (f - before.frame) / (after.frame - before.frame)
                lerp = tuple(p + (q - p) * t for p, q in zip(before.box, after.box, strict=True))
                clipped = (max(lerp[0], 0), max(lerp[1], 0), min(lerp[2], 640), min(lerp[3], 480))
                assert _contains(box, clipped)  # padded box holds the interpolated one


def test_extension_holds_grows_and_follows_motion() -> None:
    first = (200.0, 200.0, 240.0, 250.0)
    second = (212.0, 200.0, 252.0, 250.0)  # moving right 4 px per frame
    track = _track([_sight(30, first), _sight(33, second)], 18, 45, pad=1.3, extend_growth=0.5)
    near, far = track.box_at(29), track.box_at(18)
    assert near is not None and far is not None
    # Held box always covered, padded and growing with distance from the sighting.
    assert _contains(near, scale_box(first, 1.3)) and _contains(far, scale_box(first, 1.3))
    assert (far[2] - far[0]) > (near[2] - near[0])
    # Moved back along the edge velocity: 12 frames before at 4 px/frame.
    assert _contains(far, scale_box((152.0, 200.0, 192.0, 250.0), 1.3))
    after = track.box_at(45)
    assert after is not None and _contains(after, scale_box((260.0, 200.0, 300.0, 250.0), 1.3))


def test_build_tracks_margins_clip_and_numbering() -> None:
    params = TrackParams(detect_every=3, max_detect_every=6)  # margin 12
    sightings = {
        7: [_sight(2, (10, 10, 50, 60)), _sight(5, (12, 10, 52, 60))],
        3: [_sight(40, (300, 300, 340, 350)), _sight(43, (300, 300, 340, 350))],
    }
    tracks = build_tracks(sightings, {7: "face", 3: "face"}, 50, SIZE, params)
    assert [t.track_id for t in tracks] == [1, 2]
    assert (tracks[0].first_frame, tracks[0].last_frame) == (0, 17)  # clipped at frame 0
    assert (tracks[1].first_frame, tracks[1].last_frame) == (28, 49)  # clipped at the end
    assert tracks[0].source_ids == (7,) and tracks[1].source_ids == (3,)
    boxes = frame_boxes(tracks, 50)
    assert [len(b) for b in boxes[:18]] == [1] * 18 and boxes[18:28] == [[]] * 10
    assert all(len(b) == 1 for b in boxes[28:])


def test_split_tracks_are_joined_and_the_gap_interpolated() -> None:
    params = TrackParams(link_gap=20)
    sightings = {
        1: [_sight(0, (100, 100, 150, 160)), _sight(3, (104, 100, 154, 160))],
        2: [_sight(18, (130, 102, 180, 162)), _sight(21, (134, 102, 184, 162))],  # same face
        3: [_sight(19, (400, 100, 450, 160))],  # elsewhere: another face
        4: [_sight(45, (134, 102, 184, 162))],  # too late to join (gap 24 > 20)
        5: [_sight(20, (100, 100, 150, 160))],  # a plate where the face was: other category
    }
    categories = {1: "face", 2: "face", 3: "face", 4: "face", 5: "plate"}
    tracks = build_tracks(sightings, categories, 60, SIZE, params)
    joined = [t for t in tracks if t.source_ids == (1, 2)]
    assert len(joined) == 1 and len(tracks) == 4
    face = joined[0]
    assert all(face.kind_at(f) == "interpolated" for f in range(4, 18))
    assert sorted(t.source_ids for t in tracks) == [(1, 2), (3,), (4,), (5,)]


def _moving_face(frame: int, speed: float = 2.0) -> Detection:
    x = 100 + speed * frame
    return Detection(x, 120, x + 60, 190, 0.9, "face")


def test_online_tracker_keeps_one_id_across_gaps_and_misses() -> None:
    params = TrackParams(detect_every=3, adaptive=False)
    tracker = OnlineTracker(params)
    ids = []
    for frame in range(0, 60, 3):
        dets = [] if frame in (21, 24) else [_moving_face(frame)]  # two missed detections
        matched = tracker.update(frame, frame / 25, dets)
        ids += [gid for gid, _ in matched]
        assert tracker.next_gap() == 3
    assert len(set(ids)) == 1 and len(ids) == 18
    tracks = build_tracks(tracker.sightings, tracker.categories, 60, SIZE, params)
    assert len(tracks) == 1
    track = tracks[0]
    assert track.first_seen == 0 and track.last_seen == 57 and track.counts()["detected"] == 18
    assert all(track.kind_at(f) == "interpolated" for f in range(19, 27))


def test_thresholds_weak_detections_only_continue_tracks() -> None:
    params = TrackParams(new_threshold=0.3, low_threshold=0.1, adaptive=False, detect_every=1)
    tracker = OnlineTracker(params)
    assert tracker.update(0, 0.0, [Detection(10, 10, 50, 60, 0.2, "face")]) == []
    strong = tracker.update(1, 0.04, [Detection(200, 10, 240, 60, 0.8, "face")])
    weak = tracker.update(2, 0.08, [Detection(201, 10, 241, 60, 0.15, "face")])
    assert len(strong) == 1 and len(weak) == 1 and strong[0][0] == weak[0][0]
    # Categories are tracked apart: a plate on the face never continues the face track.
    plate = tracker.update(3, 0.12, [Detection(201, 10, 241, 60, 0.9, "plate")])
    assert plate[0][0] != strong[0][0] and tracker.categories[plate[0][0]] == "plate"


def test_every_confident_detection_becomes_a_sighting() -> None:
    params = TrackParams(adaptive=False, detect_every=1)
    tracker = OnlineTracker(params)
    rng = random.Random(11)
    total = 0
    for frame in range(40):
        dets = []
        for _ in range(rng.randint(0, 6)):
            x, y = rng.uniform(0, 580), rng.uniform(0, 420)
            dets.append(Detection(x, y, x + 40, y + 50, rng.uniform(0.1, 1.0), "face"))
        matched = tracker.update(frame, frame / 25, dets)
        assert sorted(id(d) for _, d in matched) == sorted(id(d) for d in dets)
        total += len(dets)
    assert sum(len(s) for s in tracker.sightings.values()) == total


def test_adaptive_gap() -> None:
    params = TrackParams(detect_every=3, max_detect_every=6, adaptive=True)
    tracker = OnlineTracker(params)
    tracker.update(0, 0.0, [])
    assert tracker.next_gap() == 6  # nothing in view: look less often
    for frame in (6, 7, 8, 9):
        tracker.update(frame, frame / 25, [_moving_face(frame, speed=0.0)])
    assert tracker.next_gap() == 3  # a still face: the configured k
    tracker.update(12, 0.48, [])
    assert tracker.next_gap() == 1  # lost: look again at once
    fast = OnlineTracker(params)
    for frame in range(8):
        fast.update(frame, frame / 25, [_moving_face(frame, speed=20.0)])
    assert fast.next_gap() == 1  # a third of its width per frame: every frame
    assert (
        OnlineTracker(TrackParams(adaptive=False, detect_every=4, max_detect_every=4)).next_gap()
        == 4
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"detect_every": 0},
        {"detect_every": 5, "max_detect_every": 4},
        {"new_threshold": 0.1, "low_threshold": 0.2},
        {"pad": 0.9},
    ],
)
def test_bad_params_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TrackParams(**kwargs)  # type: ignore[arg-type]
