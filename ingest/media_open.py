"""One hardened way to open an untrusted original with PyAV, for every probe and decode.

Originals come from outside: a file named .mp4 may be an HLS playlist naming
`file:///etc/passwd` or `http://127.0.0.1/`, a concat list, or a header claiming absurd
dimensions. Every PyAV open in Custos goes through `open_media`, which
- allows only the `file` protocol (no network, no pipes, nothing a playlist names),
- allows only demuxers of recordings and stills (no hls, dash, concat, ffmetadata, tee),
- bounds probing (probesize, analyzeduration, stream count) and every blocking read with
  a time limit (PyAV's interrupt callback), and
- refuses video streams whose dimensions no recorder writes, before a frame is decoded,
  and caps every decoder at MAX_PIXELS (ffmpeg's `max_pixels`): a still's size is known
  only from decoding it (png_pipe), and a 5 MB PNG claiming 40000x40000 would otherwise
  make find_stream_info, and then the probe, fill a 4.8 GB frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import av.error

from ingest.ffmpeg_cmd import ALLOWED_DEMUXERS, FORMAT_WHITELIST, REFUSED_DEMUXERS

MAX_PIXELS = 8192 * 8192
MAX_SIDE = 16384
MAX_STREAMS = 64


class MediaRefused(Exception):
    """The file is not opened: a refused container, protocol or absurd header."""


@dataclass(frozen=True)
class OpenLimits:
    timeout_s: float = 30.0  # per blocking open or read
    probesize: int = 20_000_000  # bytes read to find the streams
    analyzeduration_us: int = 20_000_000


__all__ = ["ALLOWED_DEMUXERS", "MediaRefused", "OpenLimits", "open_media"]


def _allowed_names() -> str:
    return FORMAT_WHITELIST


def open_media(
    path: Path, limits: OpenLimits | None = None, *, metadata_errors: str = "ignore"
) -> av.container.InputContainer:
    """Open `path` for reading under the allowlists and limits above.

    Raises MediaRefused for what is refused by policy, av.error.FFmpegError or OSError for
    what cannot be read at all (callers translate both at their boundary).
    """
    limits = limits or OpenLimits()
    options = {
        "protocol_whitelist": "file",
        "format_whitelist": _allowed_names(),
        "probesize": str(limits.probesize),
        "analyzeduration": str(limits.analyzeduration_us),
        # Passed on to the decoders find_stream_info opens: they refuse bigger pictures.
        "max_pixels": str(MAX_PIXELS),
    }
    container = av.open(
        str(path),
        mode="r",
        options=options,
        metadata_errors=metadata_errors,
        timeout=(limits.timeout_s, limits.timeout_s),
    )
    try:
        _check(container, path)
    except MediaRefused:
        container.close()
        raise
    return container


def _check(container: av.container.InputContainer, path: Path) -> None:
    names = set(container.format.name.split(","))
    refused = names & REFUSED_DEMUXERS
    if refused:
        raise MediaRefused(f"{path.name}: container {container.format.name!r} is refused")
    if len(container.streams) > MAX_STREAMS:
        raise MediaRefused(f"{path.name}: {len(container.streams)} streams (at most {MAX_STREAMS})")
    for stream in container.streams.video:
        ctx = stream.codec_context
        if ctx is None:
            continue
        # The same cap for every later decode of this container (probe, detect, render).
        ctx.options = {**ctx.options, "max_pixels": str(MAX_PIXELS)}
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
            raise MediaRefused(
                f"{path.name}: video stream #{stream.index} claims {width}x{height} pixels"
            )
