"""Describe a media file with PyAV: container, streams, duration, rotation, tags."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import av.error

from ingest.media_open import MediaRefused, open_media

# Tags in which recorders and phones leave a device identity, most specific first.
# `encoder` is not one of them: it names the software that wrote the file (ffmpeg's
# muxer writes `Lavf59.27.100` into every file it makes).
_DEVICE_TAGS = (
    "serial",
    "device",
    "camera",
    "com.apple.quicktime.model",
    "com.android.model",
    "model",
    "com.apple.quicktime.make",
    "com.android.manufacturer",
    "make",
)
# Values that name encoding or editing software, whatever tag they were written in.
_ENCODER_VALUE = re.compile(
    r"^\s*(?:lav[fcd]\d|libav|ffmpeg|handbrake|x26[45]|libx26[45]|x264 - core|gpac|mp4box|"
    r"mencoder|gstreamer|vlc|avidemux|mkvmerge|libebml|libmatroska|mainconcept|tmpgenc|"
    r"formatfactory|format factory|isomedia|apple ?core ?media|adobe|davinci|shotcut|openshot|"
    r"kdenlive|capcut|videoproc|wondershare|filmora|bandicam|obs\b|nvenc|quick ?sync)",
    re.IGNORECASE,
)


def is_encoder_tag(value: str) -> bool:
    """True when `value` names the software that encoded or muxed a file, not a device."""
    return bool(_ENCODER_VALUE.match(value))


def device_tags_of(tags: dict[str, str]) -> dict[str, str]:
    """The tags that may name the recording device, most specific first; encoders left out."""
    found: list[tuple[int, str, str]] = []
    for key, value in tags.items():
        name = key.lower()
        short = name.split(".", 1)[1] if name.startswith("stream") and "." in name else name
        for rank, tag in enumerate(_DEVICE_TAGS):
            if short == tag or short.rsplit(".", 1)[-1] == tag:
                if value.strip() and not is_encoder_tag(value):
                    found.append((rank, key, value.strip()))
                break
    return {key: value for _rank, key, value in sorted(found, key=lambda f: f[0])}


@dataclass
class StreamInfo:
    index: int
    kind: str  # video | audio | subtitle | data
    codec: str | None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    pix_fmt: str | None = None
    rotation: int = 0
    sample_rate: int | None = None
    channels: int | None = None
    language: str | None = None


@dataclass
class ProbeResult:
    playable: bool
    reason: str | None = None
    container: str | None = None
    duration_s: float | None = None
    streams: list[StreamInfo] = field(default_factory=list)
    creation_time: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)
    device_tags: dict[str, str] = field(default_factory=dict)

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "video"), None)

    @property
    def audio_streams(self) -> list[StreamInfo]:
        return [s for s in self.streams if s.kind == "audio"]

    @property
    def media_kind(self) -> str:
        if self.video is not None and not self._still_image():
            return "video"
        if self.audio_streams:
            return "audio"
        if self.video is not None:
            return "image"
        return "other"

    def _still_image(self) -> bool:
        video = self.video
        return (
            video is not None
            and video.codec in ("mjpeg", "png", "bmp", "webp")
            and (self.duration_s is None or self.duration_s < 0.1)
        )

    @property
    def device_id(self) -> str | None:
        """The most specific device identity in the tags (never an encoder's name)."""
        return next(iter(self.device_tags.values()), None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["creation_time"] = self.creation_time.isoformat() if self.creation_time else None
        return data


def _rotation(stream: av.stream.Stream) -> int:
    tag = (stream.metadata or {}).get("rotate")
    if tag:
        try:
            return int(tag) % 360
        except ValueError:
            pass
    # Newer containers carry rotation as a display-matrix side data only.
    for side in getattr(getattr(stream, "codec_context", None), "side_data", []) or []:
        if getattr(side, "type", None) == "DISPLAYMATRIX":
            return int(round(getattr(side, "rotation", 0))) % 360
    return 0


def _parse_time(value: str) -> datetime | None:
    for candidate in (value, value.replace("Z", "+00:00")):
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if parsed.year < 1995:  # "1904-01-01" and "1970-01-01": unset recorder clocks
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _stream_info(stream: av.stream.Stream) -> StreamInfo:
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    info = StreamInfo(
        index=stream.index,
        kind=stream.type,
        codec=stream.codec_context.name if stream.codec_context else None,
        duration_s=duration,
        language=(stream.metadata or {}).get("language"),
    )
    # The codec context's attributes depend on the stream type; PyAV types only the base.
    ctx: Any = stream.codec_context
    if stream.type == "video":
        info.width, info.height = ctx.width or None, ctx.height or None
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        info.fps = float(rate) if rate else None
        info.pix_fmt = ctx.pix_fmt
        info.rotation = _rotation(stream)
    elif stream.type == "audio":
        info.sample_rate = ctx.sample_rate or None
        info.channels = ctx.channels or None
    return info


def _first_frame_ok(container: av.container.InputContainer) -> tuple[bool, str | None]:
    """Decode a little of the first playable stream: headers alone prove nothing."""
    streams = [s for s in container.streams if s.type in ("video", "audio")]
    if not streams:
        return False, "no audio or video stream"
    target = next((s for s in streams if s.type == "video"), streams[0])
    try:
        for packet in container.demux(target):
            for _frame in packet.decode():
                return True, None
            if packet.pts is not None and packet.size == 0:
                break
    except av.error.FFmpegError as exc:
        return False, f"cannot decode {target.type} stream: {exc}"
    return False, f"no decodable {target.type} frame"


def probe(path: Path) -> ProbeResult:
    try:
        # The one hardened opener: local file only, recording demuxers only, time-bounded.
        container = open_media(path, metadata_errors="strict")
    except MediaRefused as exc:
        return ProbeResult(False, f"refused: {exc}")
    except av.error.InvalidDataError as exc:
        return ProbeResult(False, f"not a readable media container ({exc.strerror or exc})")
    except av.error.FFmpegError as exc:
        return ProbeResult(False, f"cannot open as media: {exc}")
    with container:
        fmt = container.format.name if container.format else None
        duration = container.duration / av.time_base if container.duration else None
        tags = {str(k): str(v) for k, v in (container.metadata or {}).items()}
        streams = [_stream_info(s) for s in container.streams]
        for stream in container.streams:
            for key, value in (stream.metadata or {}).items():
                tags.setdefault(f"stream{stream.index}.{key}", str(value))
        playable, reason = _first_frame_ok(container)
    created = None
    for key in ("creation_time", "com.apple.quicktime.creationdate", "date"):
        if key in tags and (created := _parse_time(tags[key])):
            break
    if created is None:
        for key, value in tags.items():
            if key.endswith(".creation_time") and (created := _parse_time(value)):
                break
    device_tags = device_tags_of(tags)
    if duration is None:
        durations = [s.duration_s for s in streams if s.duration_s]
        duration = max(durations) if durations else None
    return ProbeResult(playable, reason, fmt, duration, streams, created, tags, device_tags)
