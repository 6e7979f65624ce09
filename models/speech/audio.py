"""Audio for the transcriber: list a file's audio streams, decode one to 16 kHz mono float32.

Decoding is a generator of bounded chunks so that a three-hour recording never sits in
memory whole. A packet that fails to decode is skipped, and any hole in the stream's timestamps (a
late start, lost or undecodable packets) is filled with silence, so every later time in
the transcript still points at the right moment of the original.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from ingest.media_open import MediaRefused, open_media

SAMPLE_RATE = 16000
_GAP_TOLERANCE_S = 0.05


class AudioError(RuntimeError):
    """The file cannot be opened or the stream cannot be decoded at all."""


@dataclass(frozen=True)
class AudioStream:
    index: int  # stream index in the container (what `--stream` names)
    ordinal: int  # 0 for the first audio stream, 1 for the second ...
    codec: str | None
    channels: int | None
    sample_rate: int | None
    duration_s: float | None
    language: str | None
    title: str | None

    @property
    def label(self) -> str:
        extras = [x for x in (self.language, self.title) if x]
        suffix = f" ({', '.join(extras)})" if extras else ""
        return f"audio {self.ordinal + 1}, stream #{self.index}{suffix}"


@dataclass
class DecodeStats:
    """What decoding met on the way; filled in as the generator runs."""

    samples: int = 0
    corrupt_packets: int = 0
    filled_s: float = 0.0  # silence put where audio was missing (late start, lost packets)
    truncated: bool = False  # the container ended in an error, not at a clean end
    sha256: str = ""  # of the float32 samples handed out, final once decoding ends
    _hasher: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)

    @property
    def duration_s(self) -> float:
        return self.samples / SAMPLE_RATE


def _open(path: Path) -> av.container.InputContainer:
    try:
        return open_media(path)
    except MediaRefused as exc:
        raise AudioError(str(exc)) from exc
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioError(f"cannot open {path.name}: {exc}") from exc


def _duration(stream: av.audio.stream.AudioStream, container_s: float | None) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return container_s


def list_audio_streams(path: Path) -> list[AudioStream]:
    with _open(path) as container:
        container_s = container.duration / av.time_base if container.duration else None
        out = []
        for ordinal, stream in enumerate(container.streams.audio):
            ctx = stream.codec_context
            out.append(
                AudioStream(
                    index=stream.index,
                    ordinal=ordinal,
                    codec=ctx.name if ctx is not None else None,
                    channels=ctx.channels if ctx is not None else None,
                    sample_rate=ctx.sample_rate if ctx is not None else None,
                    duration_s=_duration(stream, container_s),
                    language=stream.metadata.get("language") or None,
                    title=stream.metadata.get("title") or stream.metadata.get("handler_name"),
                )
            )
        return out


def _frame_seconds(frame: av.AudioFrame) -> float | None:
    if frame.pts is None or frame.time_base is None:
        return None
    return float(frame.pts * Fraction(frame.time_base))


def decode_audio_chunks(
    path: Path,
    stream_index: int,
    *,
    chunk_s: float = 30.0,
    stats: DecodeStats | None = None,
    channel: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield 16 kHz mono float32 arrays of about `chunk_s` seconds from one audio stream.

    The samples match faster-whisper's own decoder (s16 resampling, scaled to [-1, 1)),
    so the stage and a bare faster-whisper script read the same audio. `channel` picks one
    channel instead of the downmix (an interview room's officer or subject microphone).
    """
    stats = stats if stats is not None else DecodeStats()
    chunk_samples = max(1, int(chunk_s * SAMPLE_RATE))
    pending: list[np.ndarray] = []
    pending_samples = 0

    def emit(array: np.ndarray) -> Iterator[np.ndarray]:
        nonlocal pending, pending_samples
        pending.append(array)
        pending_samples += array.shape[0]
        if pending_samples >= chunk_samples:
            chunk = np.concatenate(pending) if len(pending) > 1 else pending[0]
            pending, pending_samples = [], 0
            yield from _hand_out(chunk, stats)

    with _open(path) as container:
        try:
            stream = container.streams[stream_index]
        except IndexError as exc:
            raise AudioError(f"{path.name} has no stream #{stream_index}") from exc
        if not isinstance(stream, av.audio.stream.AudioStream):
            raise AudioError(f"stream #{stream_index} of {path.name} is {stream.type}, not audio")
        channels = stream.codec_context.channels or 1
        if channel is not None and not 0 <= channel < channels:
            raise AudioError(f"stream #{stream_index} of {path.name} has no channel {channel}")
        pick = channel is not None and channels > 1
        # One channel: resample planar in the stream's own layout and keep that plane.
        resampler = av.audio.resampler.AudioResampler(
            format="s16p" if pick else "s16", layout=None if pick else "mono", rate=SAMPLE_RATE
        )
        fifo = av.audio.fifo.AudioFifo()
        # Resample about a second of source audio at a time: per-frame calls cost more.
        group = max(1, stream.codec_context.sample_rate or SAMPLE_RATE)

        def resampled(frame: av.AudioFrame | None, flush: bool = True) -> Iterator[np.ndarray]:
            if frame is None and not flush:
                return
            for out in resampler.resample(frame):
                samples = out.to_ndarray()
                row = samples[channel] if pick else samples.reshape(-1)
                yield row.astype(np.float32) / 32768.0

        origin: float | None = None
        if container.start_time is not None:
            origin = container.start_time / av.time_base
        clock: float | None = None  # container time up to which audio has been passed on

        try:
            for packet in container.demux(stream):
                if packet.size == 0 and packet.dts is None:
                    continue  # the demuxer's flush packet
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    # The gap it leaves shows in the next frame's timestamp and is filled there.
                    stats.corrupt_packets += 1
                    continue
                for frame in frames:
                    if not isinstance(frame, av.AudioFrame):
                        continue
                    at = _frame_seconds(frame)
                    if clock is None:
                        clock = origin if origin is not None and at is not None else at
                    if at is not None and clock is not None and at - clock > _GAP_TOLERANCE_S:
                        # Missing audio (a late start, lost or undecodable packets): keep
                        # the timeline by putting silence where it was.
                        for array in resampled(fifo.read() if fifo.samples else None, flush=False):
                            yield from emit(array)
                        stats.filled_s += at - clock
                        yield from emit(
                            np.zeros(int(round((at - clock) * SAMPLE_RATE)), np.float32)
                        )
                        clock = at
                    if clock is not None:
                        clock = max(clock, at or clock) + frame.samples / (frame.sample_rate or 1)
                    frame.pts = None  # a discontinuous timestamp must not stop the fifo
                    fifo.write(frame)
                    if fifo.samples >= group:
                        for array in resampled(fifo.read()):
                            yield from emit(array)
        except av.error.FFmpegError:
            stats.truncated = True
        if fifo.samples > 0:
            for array in resampled(fifo.read()):
                yield from emit(array)
        for array in resampled(None):
            yield from emit(array)
    if pending:
        yield from _hand_out(np.concatenate(pending), stats)
    stats.sha256 = stats._hasher.hexdigest()


def _hand_out(chunk: np.ndarray, stats: DecodeStats) -> Iterator[np.ndarray]:
    stats.samples += chunk.shape[0]
    stats._hasher.update(chunk.tobytes())
    yield chunk


def decode_audio(path: Path, stream_index: int) -> np.ndarray:
    """A whole stream at once; for short clips and tests only."""
    chunks = list(decode_audio_chunks(path, stream_index))
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
