"""Which channels of an audio stream carry a voice of their own.

Interview rooms record the officer and the subject on separate channels of one stream.
Mixed down to mono (as faster-whisper reads a file), two people talking at once garble
each other and a quiet channel drowns under a loud one. So each channel that carries its
own sound is transcribed on its own; channels that repeat another (a mono source stored
as stereo, a stereo mic pair hearing one room) are heard once, as the mix; a channel that
is silent throughout is not transcribed at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import av.error
import numpy as np

from ingest.media_open import MediaRefused, open_media
from models.speech.audio import SAMPLE_RATE, AudioError

# Below this RMS (about -60 dBFS) a channel holds no sound worth transcribing.
SILENT_RMS = 1e-3
# Channels whose normalised correlation reaches this repeat each other: one voice.
DUPLICATE_CORRELATION = 0.9


@dataclass(frozen=True)
class Voice:
    """One thing to transcribe in a stream: a channel, or the whole stream (channel None)."""

    channel: int | None
    label: str


def channel_label(channel: int, channels: int) -> str:
    if channels == 2:
        return ("left", "right")[channel]
    return f"channel {channel + 1}"


def _channel_sums(path: Path, stream_index: int, max_s: float | None) -> tuple[int, np.ndarray]:
    """(samples, matrix of sums of x_i * x_j) over the stream at 16 kHz, read once."""
    try:
        container = open_media(path)
    except MediaRefused as exc:
        raise AudioError(str(exc)) from exc
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioError(f"cannot open {path.name}: {exc}") from exc
    with container:
        stream = container.streams[stream_index]
        if not isinstance(stream, av.audio.stream.AudioStream):
            raise AudioError(f"stream #{stream_index} of {path.name} is not audio")
        channels = stream.codec_context.channels or 1
        sums = np.zeros((channels, channels), dtype=np.float64)
        resampler = av.audio.resampler.AudioResampler(format="fltp", layout=None,
                                                      rate=SAMPLE_RATE)  # fmt: skip
        count = 0
        limit = None if max_s is None else int(max_s * SAMPLE_RATE)
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    continue  # a corrupt packet says nothing about the channels
                for frame in frames:
                    if not isinstance(frame, av.AudioFrame):
                        continue
                    frame.pts = None
                    for out in resampler.resample(frame):
                        block = out.to_ndarray().astype(np.float64)
                        sums += block @ block.T
                        count += block.shape[1]
                if limit is not None and count >= limit:
                    break
        except av.error.FFmpegError:
            pass  # truncated: judge on what could be read
    return count, sums


def voices(
    path: Path, stream_index: int, channels: int | None, *, max_s: float | None = None
) -> list[Voice]:
    """What to transcribe in this stream; the whole stream when it is one voice."""
    whole = [Voice(None, "")]
    if not channels or channels < 2:
        return whole
    count, sums = _channel_sums(path, stream_index, max_s)
    if count == 0:
        return whole
    power = np.diag(sums) / count
    active = [c for c in range(sums.shape[0]) if np.sqrt(power[c]) >= SILENT_RMS]
    if not active:
        return whole
    distinct: list[int] = []
    for c in active:
        repeats = any(
            sums[c, d] / np.sqrt(sums[c, c] * sums[d, d]) >= DUPLICATE_CORRELATION for d in distinct
        )
        if not repeats:
            distinct.append(c)
    if len(distinct) == 1 and len(active) == sums.shape[0]:
        return whole  # every channel sounds and they all repeat one another
    n = sums.shape[0]
    return [Voice(c, channel_label(c, n)) for c in distinct]
