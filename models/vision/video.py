"""Decoding video frames once, with PyAV, for detection and rendering.

`decode_frames` is a generator of lazily converted frames: a frame that nobody looks
at is decoded (the codec needs it) but never converted to RGB, which is where most of
the per-frame cost goes at 1080p. Corrupt frames are skipped and counted instead of
stopping the whole recording; rotation from the container is applied so that boxes
are in display coordinates, which is what players, reviewers and renderers see.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ingest.media_open import MediaRefused, open_media
from models.vision.detect.errors import VideoError


@dataclass(frozen=True)
class VideoInfo:
    width: int  # display size, after rotation
    height: int
    fps: float  # nominal rate; frame times come from timestamps, not from this
    rotation: int  # degrees counter-clockwise applied to decoded pictures (0/90/180/270)
    duration_s: float | None
    frames_estimate: int | None
    codec: str


@dataclass
class DecodeStats:
    frames: int = 0  # frames yielded
    corrupt: int = 0  # packets that failed to decode plus frames flagged corrupt


def _rotation(frame_rotation: float) -> int:
    return int(round(frame_rotation / 90.0)) % 4 * 90


def fit_within(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) scaled down (never up) so the longer side is at most `max_side`."""
    if not max_side or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    # Even sizes keep swscale on its fast paths for 4:2:0 input.
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


class Frame:
    """One decoded picture with its index in decode order and its presentation time."""

    __slots__ = ("_av", "_rotation", "index", "time")

    def __init__(self, av_frame: av.VideoFrame, index: int, time: float, rotation: int) -> None:
        self._av = av_frame
        self._rotation = rotation
        self.index = index
        self.time = time

    @property
    def size(self) -> tuple[int, int]:
        """Display (width, height)."""
        w, h = self._av.width, self._av.height
        return (h, w) if self._rotation in (90, 270) else (w, h)

    def rgb(self, max_side: int | None = None) -> np.ndarray:
        """The picture as RGB, rotated for display, optionally downscaled."""
        width, height = fit_within(self._av.width, self._av.height, max_side)
        picture: np.ndarray
        if (width, height) == (self._av.width, self._av.height):
            picture = self._av.to_ndarray(format="rgb24")
        else:
            picture = self._av.reformat(
                width=width, height=height, format="rgb24", interpolation="AREA"
            ).to_ndarray()
        if self._rotation:
            picture = np.ascontiguousarray(np.rot90(picture, self._rotation // 90))
        return picture

    @property
    def av_frame(self) -> av.VideoFrame:
        return self._av


def _open(path: Path) -> av.container.InputContainer:
    try:
        container = open_media(path, metadata_errors="strict")
    except MediaRefused as exc:
        raise VideoError(str(exc)) from exc
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError(f"cannot open {path.name}: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path.name} has no video stream")
    return container


def probe_video(path: Path) -> VideoInfo:
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        rotation = 0
        for frame in _decoded(container, stream, DecodeStats()):
            rotation = _rotation(frame.rotation)
            break
        w, h = stream.codec_context.width, stream.codec_context.height
        if rotation in (90, 270):
            w, h = h, w
        frames = stream.frames or (round(duration * float(rate)) if duration else None)
        return VideoInfo(w, h, float(rate), rotation, duration, frames, stream.codec_context.name)
    finally:
        container.close()


def _decoded(
    container: av.container.InputContainer, stream: av.VideoStream, stats: DecodeStats
) -> Iterator[av.VideoFrame]:
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            stats.corrupt += 1
            continue
        for frame in frames:
            if frame.is_corrupt:
                stats.corrupt += 1
                continue
            yield frame


def decode_frames(path: Path, stats: DecodeStats | None = None) -> Iterator[Frame]:
    """Every decodable frame of the first video stream, in presentation order.

    Times are taken from each frame's timestamp, so variable-frame-rate recordings keep
    their real timing; a frame without a timestamp gets its predecessor's time plus one
    nominal frame interval, and times never go backwards.
    """
    stats = stats if stats is not None else DecodeStats()
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        start = (
            float(stream.start_time * stream.time_base)
            if stream.start_time is not None and stream.time_base is not None
            else 0.0
        )
        previous: float | None = None
        index = 0
        rotation: int | None = None
        try:
            for av_frame in _decoded(container, stream, stats):
                if rotation is None:
                    rotation = _rotation(av_frame.rotation)
                if av_frame.pts is not None and av_frame.time_base is not None:
                    time = float(av_frame.pts * av_frame.time_base - start)
                else:
                    time = (previous + 1.0 / rate) if previous is not None else 0.0
                if previous is not None and time <= previous:
                    time = previous + 1e-6
                previous = time
                stats.frames += 1
                yield Frame(av_frame, index, time, rotation)
                index += 1
        except av.error.FFmpegError as exc:
            # A truncated tail: keep what was decoded, count the loss.
            stats.corrupt += 1
            if index == 0:
                raise VideoError(f"cannot decode {path.name}: {exc}") from exc
    finally:
        container.close()
