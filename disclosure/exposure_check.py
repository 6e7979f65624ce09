"""The exposure check: detection again, on every frame of the redacted output.

No peer checks its own output for missed faces. Custos runs the face detector once more on
every frame of what it rendered, at a threshold below the one that starts tracks in
production, and lists every frame where a face (or plate, with a YOLO plate model) is
still found. Consecutive frames with a detection at about the same place form one
finding, so an officer reviews a handful of findings, each with its frames, times, the
strongest box and a thumbnail, instead of thousands of frames.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from models.vision.detect.base import Box, Detection, Detector, iou
from models.vision.exposure import covered_fraction
from models.vision.video import Frame, decode_frames

# Below TrackParams.new_threshold (0.1), the score at which production starts a track.
EXPOSURE_THRESHOLD = 0.08
_JOIN_IOU = 0.1
_JOIN_GAP = 3  # frames without a detection that still continue one finding


@dataclass
class Exposure:
    category: str
    first_frame: int
    last_frame: int
    first_time: float
    last_time: float
    box: Box  # the strongest detection, in output pixels
    score: float
    frames: list[int] = field(default_factory=list)
    thumbnail_jpeg: bytes = b""


def _thumbnail(picture: np.ndarray, box: Box, side: int = 160) -> bytes:
    h, w = picture.shape[:2]
    pad = 0.5 * max(box[2] - box[0], box[3] - box[1])
    x1, y1 = max(0, int(box[0] - pad)), max(0, int(box[1] - pad))
    x2, y2 = min(w, int(box[2] + pad)), min(h, int(box[3] + pad))
    crop = picture[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]
    scale = side / max(crop.shape[:2])
    crop = cv2.resize(
        crop, (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale)))
    )
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    return bytes(data) if ok else b""


# A detection this much inside what the plan obscured on that frame is the blurred shape
# of a head the plan already hides (CenterFace still scores a blurred head about 0.2),
# counted as residual, not as an exposure; anything less covered is a finding.
RESIDUAL_COVERAGE = 0.8

CoversFn = Callable[[int, float, tuple[int, int]], Sequence[Box]]


@dataclass
class ExposureCheck:
    findings: list[Exposure]
    frames_checked: int
    residual_detections: int  # detections inside obscured regions (blurred heads)


def _full_size(frame: Frame, small: np.ndarray) -> np.ndarray:
    width, height = frame.size
    return small if small.shape[:2] == (height, width) else frame.rgb()


def _detected(
    path: Path, detector: Detector, max_side: int | None
) -> Iterator[tuple[Frame, np.ndarray, list[Detection]]]:
    """(frame, picture at detection size, detections) in frame order.

    A detector that can run several frames at once (`concurrent_runs`, CenterFace on CPU)
    gets that many in flight on a thread pool (ONNX Runtime releases the GIL), and the
    next frames are decoded meanwhile; results still come out in frame order, so the
    findings are the same as one frame at a time.
    """
    runs = max(1, int(getattr(detector, "concurrent_runs", 1)))
    with ThreadPoolExecutor(max_workers=runs, thread_name_prefix="exposure") as pool:
        pending: deque[tuple[Frame, np.ndarray, Future[list[list[Detection]]]]] = deque()
        for frame in decode_frames(path):
            # swscale scales while it converts to RGB, as the detect stage does.
            small = frame.rgb(max_side)
            pending.append((frame, small, pool.submit(detector.detect, [small])))
            if len(pending) > runs:
                done_frame, done_small, future = pending.popleft()
                yield done_frame, done_small, future.result()[0]
        while pending:
            done_frame, done_small, future = pending.popleft()
            yield done_frame, done_small, future.result()[0]


def check_exposure(
    path: Path,
    detector: Detector,
    *,
    covers: CoversFn | None = None,
    max_side: int | None = 1280,
    progress: Callable[[int], None] | None = None,
) -> ExposureCheck:
    """Every frame of the rendered file at `path`, detected again; `covers` gives the
    boxes the plan obscured on a frame (index, time, (width, height))."""
    open_: list[Exposure] = []
    done: list[Exposure] = []
    checked = residual = 0
    for frame, small, found in _detected(path, detector, max_side):
        width, height = frame.size
        full: np.ndarray | None = None  # made only for a thumbnail (frames with a finding)
        sx, sy = width / small.shape[1], height / small.shape[0]
        hidden = list(covers(frame.index, frame.time, (width, height))) if covers else []
        for det in (d.scaled(sx, sy) for d in found):
            if hidden and covered_fraction(det.box, hidden) >= RESIDUAL_COVERAGE:
                residual += 1
                continue
            match = next((e for e in open_ if e.category == det.category
                          and iou(e.box, det.box) >= _JOIN_IOU), None)  # fmt: skip
            if match is None:
                full = _full_size(frame, small) if full is None else full
                open_.append(Exposure(det.category, frame.index, frame.index, frame.time,
                                      frame.time, det.box, det.score, [frame.index],
                                      _thumbnail(full, det.box)))  # fmt: skip
                continue
            match.last_frame, match.last_time = frame.index, frame.time
            match.frames.append(frame.index)
            if det.score > match.score:
                match.box, match.score = det.box, det.score
                full = _full_size(frame, small) if full is None else full
                match.thumbnail_jpeg = _thumbnail(full, det.box)
        still = [e for e in open_ if frame.index - e.last_frame <= _JOIN_GAP]
        done += [e for e in open_ if frame.index - e.last_frame > _JOIN_GAP]
        open_ = still
        checked += 1
        if progress is not None:
            progress(checked)
    findings = sorted(done + open_, key=lambda e: (e.first_frame, e.box))
    return ExposureCheck(findings, checked, residual)
