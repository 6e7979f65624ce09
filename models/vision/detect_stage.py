"""The detect stage: decode once, detect on some frames, track across all, store.

`detect_and_track` is the pure part (a file in, tracks out) that benchmarks and tests
call; `run_detect` is the pipeline stage around it (stage-function convention: the
worker in workers/detect.py only wraps it).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.vision.detect import Detection, Detector, MultiDetector, load_detector
from models.vision.detect.errors import DetectError
from models.vision.track import OnlineTracker, Track, TrackParams, build_tracks, clip_box, scale_box
from models.vision.tracks_store import load_run, replace_run, track_row
from models.vision.video import DecodeStats, VideoInfo, decode_frames, probe_video
from storage.config import Settings
from storage.db.schema import Recording
from storage.derived import store_derivative
from storage.errors import PermanentError
from storage.objects.hashing import params_digest
from storage.services import Services

STAGE = "detect"
THUMBNAIL_SIDE = 128
GPU_BATCH = 8


@dataclass(frozen=True)
class DetectParams:
    detectors: tuple[str, ...] = ("centerface",)
    max_side: int | None = 1280  # frames are downscaled to this longer side for detection
    batch: int = 0  # frames per detector call; 0: 1 on CPU (fully adaptive), 8 on GPU
    thumbnails: bool = True
    track: TrackParams = field(default_factory=TrackParams)

    def __post_init__(self) -> None:
        unknown = set(self.detectors) - {"centerface", "yolo"}
        if not self.detectors or unknown:
            raise ValueError(f"detectors must be centerface and/or yolo, not {sorted(unknown)}")
        if self.max_side is not None and self.max_side < 64:
            raise ValueError("max_side must be at least 64")
        if self.batch < 0:
            raise ValueError("batch must be >= 0")

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> DetectParams:
        """Inverse of `dataclasses.asdict` (e.g. parameters kept in a job row)."""
        values = dict(values)
        if "detectors" in values:
            values["detectors"] = tuple(values["detectors"])
        if isinstance(values.get("track"), dict):
            values["track"] = TrackParams(**values["track"])
        return cls(**values)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> DetectParams:
        """Faces by the configured face detector, plus YOLO when weights are configured."""
        detectors: tuple[str, ...] = (settings.face_detector,)
        if settings.yolo_weights is not None and settings.face_detector != "yolo":
            detectors += ("yolo",)
        values: dict[str, Any] = {"detectors": detectors}
        values.update(overrides)
        return cls(**values)


def build_detector(settings: Settings, params: DetectParams) -> Detector:
    threshold = params.track.low_threshold
    found = [load_detector(name, settings, threshold=threshold) for name in params.detectors]  # type: ignore[arg-type]
    return found[0] if len(found) == 1 else MultiDetector(found)


def effective_batch(params: DetectParams, detector: Detector) -> int:
    if params.batch:
        return params.batch
    on_gpu = getattr(detector, "on_gpu", False)
    if isinstance(detector, MultiDetector):
        on_gpu = any(getattr(d, "on_gpu", False) for d in detector.detectors)
    return GPU_BATCH if on_gpu else 1


def detect_params_hash(params: DetectParams, detector: Detector) -> str:
    """Digest of everything that determines the tracks: parameters and model identity."""
    values: dict[str, object] = dict(asdict(params))
    values["batch"] = effective_batch(params, detector)
    values["model"] = detector.identity
    return params_digest(values)


@dataclass
class VideoTracks:
    tracks: list[Track]
    frame_times: list[float]
    info: VideoInfo
    stats: DecodeStats
    detect_frames: int
    thumbnails: dict[int, bytes]  # track number -> JPEG


def _thumbnail(image: np.ndarray, det: Detection, pad: float) -> bytes | None:
    import cv2

    height, width = image.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in clip_box(scale_box(det.box, pad), width, height))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    crop = image[y1:y2, x1:x2]
    scale = THUMBNAIL_SIDE / max(crop.shape[:2])
    if scale < 1:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", crop[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    return encoded.tobytes() if ok else None


def detect_and_track(
    path: Path,
    detector: Detector,
    params: DetectParams,
    progress: Callable[[float], None] = lambda _: None,
) -> VideoTracks:
    """Decode `path` once, run `detector` on the frames the tracker asks for, track."""
    info = probe_video(path)
    stats = DecodeStats()
    tracker = OnlineTracker(params.track)
    batch = effective_batch(params, detector)
    expected = info.frames_estimate or 0  # unknown length: no progress until the end
    times: list[float] = []
    pending: list[tuple[int, float, np.ndarray, tuple[float, float]]] = []
    best: dict[int, tuple[float, bytes]] = {}  # tracker id -> (score, thumbnail)
    gap = 1
    next_detect = 0
    reported = 0.0

    def flush() -> None:
        nonlocal gap
        if not pending:
            return
        found = detector.detect([image for _, _, image, _ in pending])
        for (index, time, image, (sx, sy)), dets in zip(pending, found, strict=True):
            matched = tracker.update(index, time, [d.scaled(sx, sy) for d in dets])
            if not params.thumbnails:
                continue
            for gid, det in matched:
                if gid not in best or det.score > best[gid][0]:
                    jpeg = _thumbnail(image, det.scaled(1 / sx, 1 / sy), params.track.pad)
                    if jpeg is not None:
                        best[gid] = (det.score, jpeg)
        pending.clear()
        gap = tracker.next_gap()

    size: tuple[int, int] | None = None
    for frame in decode_frames(path, stats):
        times.append(frame.time)
        if size is None:
            size = frame.size
        if frame.index == next_detect:
            image = frame.rgb(params.max_side)
            scale = (size[0] / image.shape[1], size[1] / image.shape[0])
            pending.append((frame.index, frame.time, image, scale))
            if len(pending) >= batch:
                flush()
            next_detect = frame.index + gap
        fraction = min(frame.index / expected, 0.99) if expected else 0.0
        if fraction - reported >= 0.01:
            reported = fraction
            progress(fraction)
    flush()
    if not times or size is None:
        raise DetectError(f"no decodable video frames in {path.name}")
    tracks = build_tracks(tracker.sightings, tracker.categories, len(times), size, params.track)
    thumbnails: dict[int, bytes] = {}
    for track in tracks:
        candidates = [best[i] for i in track.source_ids if i in best]
        if candidates:
            thumbnails[track.track_id] = max(candidates, key=lambda c: c[0])[1]
    return VideoTracks(tracks, times, info, stats, tracker.detect_frames, thumbnails)


def _tracks_digest(rows: list[dict[str, Any]]) -> str:
    body = json.dumps(
        [{k: v for k, v in row.items() if k != "thumbnail_key"} for row in rows],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def run_detect(
    svc: Services,
    recording_id: str,
    params: DetectParams,
    progress: Callable[[float], None],
) -> dict[str, Any]:
    """Detect and track privacy regions in one recording; store tracks and thumbnails."""
    with svc.db.session() as session:
        recording = session.get(Recording, recording_id)
    if recording is None:
        raise PermanentError(f"no recording {recording_id}")
    if recording.media_kind != "video":
        progress(1.0)
        return {"status": "skipped", "reason": f"media kind is {recording.media_kind}"}
    try:
        detector = build_detector(svc.settings, params)
    except (DetectError, ValueError) as exc:
        raise PermanentError(f"detector unavailable: {exc}") from exc
    params_hash = detect_params_hash(params, detector)
    with svc.db.session() as session:
        existing = load_run(session, recording_id, params_hash)
    if existing is not None:
        progress(1.0)
        return {"status": "exists", "recording_id": recording_id, **existing.summary()}

    try:
        with svc.store.local_path(recording.object_key) as path:
            result = detect_and_track(path, detector, params, progress)
    except DetectError as exc:
        raise PermanentError(str(exc)) from exc

    thumbnail_keys: dict[int, str] = {}
    for number, jpeg in sorted(result.thumbnails.items()):
        derivative = store_derivative(
            svc,
            recording,
            stage=STAGE,
            params_hash=params_hash,
            kind="track-thumbnail",
            name=f"track-{number:05d}.jpg",
            source=io.BytesIO(jpeg),
            content_type="image/jpeg",
        )
        thumbnail_keys[number] = derivative.object_key
    rows = [
        track_row(track, result.frame_times, thumbnail_keys.get(track.track_id))
        for track in result.tracks
    ]
    digest = _tracks_digest(rows)
    by_category: dict[str, int] = {}
    for track in result.tracks:
        by_category[track.category] = by_category.get(track.category, 0) + 1
    info = result.info
    run = {
        "recording_id": recording_id,
        "params_hash": params_hash,
        "params": {**asdict(params), "batch": effective_batch(params, detector)},
        "model": detector.identity,
        "frame_count": len(result.frame_times),
        "corrupt_frames": result.stats.corrupt,
        "detect_frames": result.detect_frames,
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
        "rotation": info.rotation,
        "duration_s": info.duration_s,
        "tracks_sha256": digest,
        "created_at": datetime.now(UTC),
        "created_by": svc.actor,
    }
    details = {
        "stage": STAGE,
        "params_hash": params_hash,
        "source_sha256": recording.sha256,
        "model": detector.identity,
        "frames": len(result.frame_times),
        "corrupt_frames": result.stats.corrupt,
        "detect_frames": result.detect_frames,
        "tracks": len(rows),
        "tracks_by_category": by_category,
        "tracks_sha256": digest,
    }

    def write(session: Any) -> int:
        if load_run(session, recording_id, params_hash) is not None:
            return -1  # a concurrent attempt finished first; its rows stand
        row = replace_run(session, run, rows)
        svc.ledger.append(
            session, actor=svc.actor, action="detected", subject=recording_id, details=details
        )
        return row.id

    run_id = svc.db.run(write)
    progress(1.0)
    return {
        "status": "done" if run_id >= 0 else "exists",
        "recording_id": recording_id,
        "run_id": run_id,
        "params_hash": params_hash,
        "frames": len(result.frame_times),
        "corrupt_frames": result.stats.corrupt,
        "detect_frames": result.detect_frames,
        "tracks": len(rows),
        "tracks_by_category": by_category,
        "tracks_sha256": digest,
        "thumbnails": [thumbnail_keys[n] for n in sorted(thumbnail_keys)],
    }
