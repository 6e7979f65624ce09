"""Pure functions that build ffmpeg/ffprobe argument lists for the normalise stage.

Nothing here runs a process, so every decision (copy or encode, which filters, which
outputs) is unit-tested as a list of strings. One ffmpeg invocation makes every output:
the original is decoded once and `split`/`asplit` feed the mezzanine, proxy, poster,
thumbnail strip and speech audio, which is much faster than decoding once per output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

# Every command reads local files only: no network protocol can be reached even if a
# container (HLS playlist, MOV reference) points at one.
PROTOCOL_WHITELIST = "file,pipe"
GLOBAL_ARGS = ("-nostdin", "-hide_banner", "-loglevel", "error")
# Demuxers that open further resources named inside the file: refused outright.
REFUSED_DEMUXERS = frozenset({"hls", "applehttp", "concat", "dash", "ffmetadata", "tee"})
# Demuxers of the containers recorders, phones, CCTV exports and audio recorders write,
# the only ones any open may use (PyAV's in ingest/media_open.py, ffprobe's and ffmpeg's
# here): the protocol whitelist alone lets an HLS playlist open any local file by file://.
ALLOWED_DEMUXERS = (
    "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "mpeg", "mpegts", "mpegvideo", "flv",
    "asf", "wav", "w64", "flac", "mp3", "ogg", "aac", "ac3", "amr", "h264", "hevc", "m4v",
    "mjpeg", "mxf", "dv", "rm", "caf", "aiff", "au", "gxf", "nut", "wv", "ape", "tta",
    "dhav", "rawvideo", "s16le", "alaw", "mulaw", "g722", "g723_1", "g729", "adts",
    # Stills (scanned forms, photos): probed and stored as images, never normalised.
    "image2", "jpeg_pipe", "png_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif",
)  # fmt: skip
FORMAT_WHITELIST = ",".join(dict.fromkeys(n for g in ALLOWED_DEMUXERS for n in g.split(",")))
# Still images and raw image pipes are not recordings to normalise.
IMAGE_DEMUXER_SUFFIX = "_pipe"

OUTPUT_NAMES = {
    "mezzanine": "mezzanine.mp4",
    "proxy": "proxy.mp4",
    "poster": "poster.jpg",
    "thumbs": "thumbs.jpg",
    "thumbs_vtt": "thumbs.vtt",
    "audio16k": "audio16k.wav",
    "peaks": "peaks.json",
}
ALL_OUTPUTS = ("mezzanine", "proxy", "poster", "thumbs", "audio16k", "peaks")

VIDEO_ENCODERS = ("libx264", "h264_nvenc")
SPEECH_CODECS = ("pcm_s16le", "flac")

# What a browser plays from MP4 without help: stream copy is only safe for these.
_COPYABLE_VIDEO_PIX_FMTS = frozenset({"yuv420p", "yuvj420p"})
_COPYABLE_AAC_PROFILES = frozenset({"LC", "HE-AAC", "HE-AACv2"})


# --------------------------------------------------------------------------- probing


@dataclass(frozen=True)
class VideoStream:
    index: int
    codec: str
    pix_fmt: str | None
    width: int
    height: int
    rotation: int = 0  # clockwise degrees, normalised to 0/90/180/270
    sar: Fraction = Fraction(1)
    frame_rate: Fraction | None = None  # average rate, what a viewer sees
    base_rate: Fraction | None = None  # r_frame_rate, the timestamp grid
    field_order: str | None = None
    profile: str | None = None
    duration_s: float | None = None

    @property
    def variable_rate(self) -> bool:
        if self.frame_rate is None or self.base_rate is None or self.frame_rate == 0:
            return False
        return abs(self.frame_rate - self.base_rate) / self.frame_rate > Fraction(1, 100)

    @property
    def interlaced(self) -> bool:
        return self.field_order in ("tt", "bb", "tb", "bt")

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown: rotation applied, non-square pixels widened."""
        width = round(self.width * self.sar) if self.sar > 0 else self.width
        if self.rotation in (90, 270):
            return self.height, width
        return width, self.height

    @property
    def coded_display_size(self) -> tuple[int, int]:
        """Pixel size after rotation but before any SAR correction (what the encoder sees)."""
        if self.rotation in (90, 270):
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class AudioStream:
    index: int
    codec: str
    profile: str | None = None
    channels: int = 0
    sample_rate: int = 0


@dataclass(frozen=True)
class MediaInfo:
    format_name: str
    duration_s: float | None
    video: VideoStream | None
    audio: AudioStream | None
    size: int | None = None

    @property
    def audio_only(self) -> bool:
        return self.video is None and self.audio is not None


def probe_args(src: Path, *, ffprobe: str = "ffprobe") -> list[str]:
    return [
        ffprobe,
        *GLOBAL_ARGS[1:],  # ffprobe never reads stdin and has no -nostdin
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-format_whitelist",
        FORMAT_WHITELIST,
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        input_url(src),
    ]


def input_url(path: Path) -> str:
    # The `file:` prefix stops a name such as "subfile:..." or "-x" being read as
    # a protocol or an option.
    return f"file:{path.resolve()}"


def _fraction(text: object) -> Fraction | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        value = Fraction(text.replace(":", "/"))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _float(text: object) -> float | None:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _int(text: object, default: int = 0) -> int:
    try:
        return int(text)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return default


def _rotation(stream: dict[str, Any]) -> int:
    """Clockwise display rotation from the display matrix (or the old `rotate` tag)."""
    degrees: float | None = None
    for side in stream.get("side_data_list") or []:
        if isinstance(side, dict) and "rotation" in side:
            # ffprobe prints the matrix angle counter-clockwise.
            degrees = -float(side["rotation"])
            break
    if degrees is None:
        tag = (stream.get("tags") or {}).get("rotate")
        if tag is not None:
            degrees = float(tag)
    if degrees is None:
        return 0
    return int(round(degrees / 90.0)) * 90 % 360


def parse_probe(data: dict[str, Any]) -> MediaInfo:
    """Pick the streams normalise works on from ffprobe's JSON."""
    fmt = data.get("format") or {}
    video: VideoStream | None = None
    audio: AudioStream | None = None
    durations: list[float] = []
    for stream in data.get("streams") or []:
        kind = stream.get("codec_type")
        if (stream.get("disposition") or {}).get("attached_pic"):
            continue  # cover art in an audio file is not a video track
        duration = _float(stream.get("duration"))
        if kind == "video" and video is None and _int(stream.get("width")) > 0:
            video = VideoStream(
                index=_int(stream.get("index")),
                codec=str(stream.get("codec_name") or "unknown"),
                pix_fmt=stream.get("pix_fmt"),
                width=_int(stream.get("width")),
                height=_int(stream.get("height")),
                rotation=_rotation(stream),
                sar=_fraction(stream.get("sample_aspect_ratio")) or Fraction(1),
                frame_rate=_fraction(stream.get("avg_frame_rate")),
                base_rate=_fraction(stream.get("r_frame_rate")),
                field_order=stream.get("field_order"),
                profile=stream.get("profile"),
                duration_s=duration,
            )
            if duration:
                durations.append(duration)
        elif kind == "audio" and audio is None:
            audio = AudioStream(
                index=_int(stream.get("index")),
                codec=str(stream.get("codec_name") or "unknown"),
                profile=stream.get("profile"),
                channels=_int(stream.get("channels")),
                sample_rate=_int(stream.get("sample_rate")),
            )
            if duration:
                durations.append(duration)
    duration_s = _float(fmt.get("duration")) or (max(durations) if durations else None)
    return MediaInfo(
        format_name=str(fmt.get("format_name") or "unknown"),
        duration_s=duration_s,
        video=video,
        audio=audio,
        size=_int(fmt.get("size")) or None,
    )


def refusal_reason(info: MediaInfo) -> str | None:
    """Why this media cannot be normalised, or None when it can."""
    demuxer = info.format_name.split(",")[0]
    if demuxer in REFUSED_DEMUXERS:
        return f"container {demuxer!r} refers to other resources; refused"
    if demuxer == "image2" or demuxer.endswith(IMAGE_DEMUXER_SUFFIX):
        return f"still image ({demuxer}), not an audio/video recording"
    if info.video is None and info.audio is None:
        return "no audio or video stream"
    return None


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class EncodeOptions:
    """Encoder settings; everything that changes the bytes of an output lives here."""

    video_encoder: str = "libx264"  # or h264_nvenc on a GPU host
    preset: str = "veryfast"
    crf: int = 20
    gop_s: float = 4.0  # keyframe spacing: short enough for snappy seeking
    audio_bitrate: str = "128k"
    proxy_height: int = 360
    proxy_preset: str = "superfast"
    proxy_crf: int = 28
    proxy_audio_bitrate: str = "64k"
    poster_fraction: float = 0.1
    poster_min_duration_s: float = 2.0  # shorter clips use their first frame
    poster_quality: int = 3  # mjpeg qscale, 2 (best) .. 31
    thumb_width: int = 160
    thumb_interval_s: float = 2.0
    thumb_max: int = 100
    thumb_columns: int = 10
    thumb_quality: int = 5
    speech_rate: int = 16000
    speech_codec: str = "pcm_s16le"  # or "flac"
    deinterlace: bool = True

    def __post_init__(self) -> None:
        # Job parameters arrive as JSON: refuse nonsense before it reaches ffmpeg.
        if self.video_encoder not in VIDEO_ENCODERS:
            raise ValueError(f"video_encoder must be one of {VIDEO_ENCODERS}")
        if self.speech_codec not in SPEECH_CODECS:
            raise ValueError(f"speech_codec must be one of {SPEECH_CODECS}")
        sizes = (self.proxy_height, self.thumb_width, self.thumb_max, self.thumb_columns)
        if min(sizes) < 1 or self.speech_rate < 8000 or self.thumb_interval_s <= 0:
            raise ValueError("sizes, counts, rates and intervals must be positive")
        if not 0 <= self.poster_fraction < 1 or not 0 <= self.crf <= 51:
            raise ValueError("poster_fraction must be in [0, 1) and crf in [0, 51]")


@dataclass(frozen=True)
class ThumbGrid:
    count: int
    columns: int
    rows: int
    tile_width: int
    tile_height: int
    duration_s: float

    @property
    def rate(self) -> Fraction:
        """Frames per second that picks `count` evenly spaced frames."""
        millis = max(1, round(self.duration_s * 1000))
        return Fraction(self.count * 1000, millis)

    def cue(self, i: int) -> tuple[float, float, int, int]:
        """(start, end, x, y) of tile i."""
        step = self.duration_s / self.count
        x = (i % self.columns) * self.tile_width
        y = (i // self.columns) * self.tile_height
        return i * step, min(self.duration_s, (i + 1) * step), x, y


@dataclass(frozen=True)
class Plan:
    outputs: tuple[str, ...]
    copy_video: bool
    copy_audio: bool
    duration_s: float
    poster_at_s: float = 0.0
    proxy_height: int = 0
    thumbs: ThumbGrid | None = None
    pad_to_even: bool = False
    deinterlace: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ffmpeg_outputs(self) -> tuple[str, ...]:
        """Outputs written by the ffmpeg invocation (peaks and VTT are made in Python)."""
        return tuple(o for o in self.outputs if o not in ("peaks", "thumbs_vtt"))


def _even(value: float) -> int:
    return max(2, int(round(value / 2.0)) * 2)


def video_copyable(video: VideoStream) -> bool:
    width, height = video.width, video.height
    return (
        video.codec == "h264"
        and video.pix_fmt in _COPYABLE_VIDEO_PIX_FMTS
        and video.rotation == 0
        and not video.interlaced
        and width % 2 == 0
        and height % 2 == 0
    )


def audio_copyable(audio: AudioStream) -> bool:
    return (
        audio.codec == "aac"
        and (audio.profile or "LC") in _COPYABLE_AAC_PROFILES
        and 0 < audio.channels <= 2
    )


def thumb_grid(duration_s: float, display: tuple[int, int], opts: EncodeOptions) -> ThumbGrid:
    count = max(1, min(opts.thumb_max, math.ceil(duration_s / opts.thumb_interval_s)))
    columns = max(1, min(count, opts.thumb_columns))
    rows = math.ceil(count / columns)
    width, height = display
    tile_width = _even(opts.thumb_width)
    tile_height = _even(opts.thumb_width * height / width) if width > 0 else tile_width
    return ThumbGrid(count, columns, rows, tile_width, tile_height, duration_s)


def plan_normalise(
    info: MediaInfo, opts: EncodeOptions, wanted: Sequence[str] = ALL_OUTPUTS
) -> Plan:
    """Decide which outputs to make and how; the one place for those rules."""
    unknown = set(wanted) - set(ALL_OUTPUTS)
    if unknown:
        raise ValueError(f"unknown outputs {sorted(unknown)}; choose from {ALL_OUTPUTS}")
    duration = info.duration_s or 0.0
    video, audio = info.video, info.audio
    if video is None:
        # Audio-only records: speech audio and a waveform, nothing to look at.
        outputs = tuple(o for o in ("audio16k", "peaks") if o in wanted)
        return Plan(outputs=outputs, copy_video=False, copy_audio=False, duration_s=duration)
    # Pictures are taken from the video track, which may end before the audio does.
    picture_s = min(duration, video.duration_s or duration)
    keep = [o for o in ALL_OUTPUTS if o in wanted and o != "peaks"]
    if audio is None and "audio16k" in keep:
        keep.remove("audio16k")
    if picture_s <= 0 and "thumbs" in keep:
        keep.remove("thumbs")  # no length to spread tiles over (raw elementary streams)
    if "thumbs" in keep:
        keep.insert(keep.index("thumbs") + 1, "thumbs_vtt")
    display = video.display_size
    coded = video.coded_display_size
    notes: list[str] = []
    copy_video = "mezzanine" in keep and video_copyable(video)
    copy_audio = "mezzanine" in keep and audio is not None and audio_copyable(audio)
    if copy_video:
        notes.append("video stream copied")
    if copy_audio:
        notes.append("audio stream copied")
    poster_at = 0.0
    if picture_s >= opts.poster_min_duration_s:
        poster_at = round(picture_s * opts.poster_fraction, 3)
    return Plan(
        outputs=tuple(keep),
        copy_video=copy_video,
        copy_audio=copy_audio,
        duration_s=duration,
        poster_at_s=poster_at,
        proxy_height=min(_even(opts.proxy_height), _even(display[1]) if display[1] > 1 else 2),
        thumbs=thumb_grid(picture_s, display, opts) if "thumbs" in keep else None,
        pad_to_even=coded[0] % 2 == 1 or coded[1] % 2 == 1,
        deinterlace=opts.deinterlace and video.interlaced,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- commands


def _video_encoder_args(
    opts: EncodeOptions, *, preset: str, crf: int, gop: int | None
) -> list[str]:
    if opts.video_encoder == "h264_nvenc":
        # NVENC has no CRF; constant-quality VBR is its nearest equivalent.
        args = ["-c:v", "h264_nvenc", "-preset", "p4", "-rc", "vbr", "-cq", str(crf + 3)]
        args += ["-b:v", "0", "-profile:v", "high"]
    else:
        args = ["-c:v", opts.video_encoder, "-preset", preset, "-crf", str(crf)]
        args += ["-profile:v", "high"]
    if gop:
        args += ["-g", str(gop)]
    # passthrough: every decoded frame keeps its timestamp, so VFR stays VFR and the
    # duration matches the original instead of being resampled to a nominal rate.
    return [*args, "-pix_fmt", "yuv420p", "-fps_mode", "passthrough"]


def _threads(threads: int) -> list[str]:
    return ["-threads", str(threads)] if threads > 0 else []


def _mp4_args() -> list[str]:
    return ["-movflags", "+faststart", "-max_muxing_queue_size", "4096", "-f", "mp4"]


def _audio_channels(audio: AudioStream) -> list[str]:
    return ["-ac", "2"] if audio.channels > 2 else []


def output_path(out_dir: Path, kind: str, opts: EncodeOptions | None = None) -> Path:
    name = OUTPUT_NAMES[kind]
    if kind == "audio16k" and opts is not None and opts.speech_codec == "flac":
        name = "audio16k.flac"
    return out_dir / name


def output_url(path: Path) -> str:
    return f"file:{path.resolve()}"


def _video_chain(branch: str, video: VideoStream, plan: Plan) -> str:
    chain: list[str] = []
    if branch == "vm":
        if plan.pad_to_even:
            # Pad rather than crop: no pixel of the evidence is dropped.
            chain.append("pad=ceil(iw/2)*2:ceil(ih/2)*2")
        chain.append("format=yuv420p")
    elif branch == "vp":
        # bilinear: half the cost of bicubic for a preview-grade downscale.
        chain += [f"scale=-2:{plan.proxy_height}:flags=bilinear", "format=yuv420p"]
    elif branch == "vo":
        chain += [f"trim=start={plan.poster_at_s:.3f}", "setpts=PTS-STARTPTS"]
        if video.sar != 1:
            chain += ["scale=trunc(iw*sar/2)*2:ih", "setsar=1"]
    elif branch == "vt" and plan.thumbs is not None:
        grid = plan.thumbs
        chain += [
            f"fps={grid.rate.numerator}/{grid.rate.denominator}",
            f"scale={grid.tile_width}:{grid.tile_height}",
            "setsar=1",
            f"tile={grid.columns}x{grid.rows}",
        ]
    return f"[{branch}0]{','.join(chain)}[{branch}]"


def filter_graph(info: MediaInfo, plan: Plan) -> str:
    """The -filter_complex graph: each decoded stream split once per output that needs it.

    Labels: vm/vp/vo/vt (mezzanine, proxy, poster, thumbs), am/ap/as (mezzanine, proxy,
    speech audio). Streams that are copied are not decoded for the mezzanine.
    """
    outs = set(plan.ffmpeg_outputs)
    video, audio = info.video, info.audio
    graph: list[str] = []
    if video is not None:
        branches = ["vm"] if "mezzanine" in outs and not plan.copy_video else []
        pairs = (("vp", "proxy"), ("vo", "poster"), ("vt", "thumbs"))
        branches += [b for b, o in pairs if o in outs]
        if branches:
            pre = "yadif=mode=send_frame:deint=interlaced," if plan.deinterlace else ""
            labels = "".join(f"[{b}0]" for b in branches)
            graph.append(f"[0:{video.index}]{pre}split={len(branches)}{labels}")
            graph += [_video_chain(b, video, plan) for b in branches]
    if audio is not None:
        branches = ["am"] if "mezzanine" in outs and not plan.copy_audio else []
        branches += [b for b, o in (("ap", "proxy"), ("as", "audio16k")) if o in outs]
        if branches:
            labels = "".join(f"[{b}0]" for b in branches)
            graph.append(f"[0:{audio.index}]asplit={len(branches)}{labels}")
            for branch in branches:
                # async=1 keeps audio on its timestamps across gaps in the recording.
                chain = "anull" if branch == "as" else "aresample=async=1"
                graph.append(f"[{branch}0]{chain}[{branch}]")
    return ";".join(graph)


def _mezzanine_args(info: MediaInfo, plan: Plan, opts: EncodeOptions, gop: int | None) -> list[str]:
    video, audio = info.video, info.audio
    assert video is not None
    args = ["-map", f"0:{video.index}" if plan.copy_video else "[vm]"]
    if audio is not None:
        args += ["-map", f"0:{audio.index}" if plan.copy_audio else "[am]"]
    if plan.copy_video:
        args += ["-c:v", "copy"]
    else:
        args += _video_encoder_args(opts, preset=opts.preset, crf=opts.crf, gop=gop)
    if audio is not None and plan.copy_audio:
        args += ["-c:a", "copy"]
    elif audio is not None:
        args += ["-c:a", "aac", "-b:a", opts.audio_bitrate, *_audio_channels(audio)]
    return args


def _proxy_args(info: MediaInfo, opts: EncodeOptions, gop: int | None) -> list[str]:
    args = ["-map", "[vp]"]
    if info.audio is not None:
        args += ["-map", "[ap]"]
    args += _video_encoder_args(opts, preset=opts.proxy_preset, crf=opts.proxy_crf, gop=gop)
    if info.audio is not None:
        args += ["-c:a", "aac", "-b:a", opts.proxy_audio_bitrate, "-ac", "1"]
    return args


def _jpeg_args(label: str, quality: int) -> list[str]:
    return ["-map", f"[{label}]", "-frames:v", "1", "-update", "1", "-c:v", "mjpeg"] + [
        "-q:v",
        str(quality),
        "-f",
        "image2",
    ]


def normalise_args(
    src: Path,
    out_dir: Path,
    info: MediaInfo,
    plan: Plan,
    opts: EncodeOptions,
    *,
    threads: int = 0,
    ffmpeg: str = "ffmpeg",
    progress: bool = True,
) -> list[str]:
    """One ffmpeg command writing every ffmpeg output of `plan` into `out_dir`.

    The mezzanine comes first so that ffmpeg's progress report follows it.
    """
    outs = set(plan.ffmpeg_outputs)
    if not outs:
        raise ValueError("plan has no ffmpeg outputs")
    video = info.video
    args = [ffmpeg, *GLOBAL_ARGS, "-nostats", "-y"]
    if progress:
        args += ["-progress", "pipe:1"]
    args += [*_threads(threads), "-protocol_whitelist", PROTOCOL_WHITELIST]
    args += ["-format_whitelist", FORMAT_WHITELIST, "-i", input_url(src)]
    graph = filter_graph(info, plan)
    if graph:
        args += [
            "-filter_complex",
            graph,
            *(["-filter_complex_threads", str(threads)] if threads > 0 else []),
        ]
    gop = None
    if video is not None and video.frame_rate:
        gop = max(1, round(float(video.frame_rate) * opts.gop_s))

    def out(kind: str) -> str:
        return output_url(output_path(out_dir, kind, opts))

    if video is not None and "mezzanine" in outs:
        args += [*_mezzanine_args(info, plan, opts, gop), *_threads(threads), *_mp4_args()]
        args.append(out("mezzanine"))
    if video is not None and "proxy" in outs:
        args += [*_proxy_args(info, opts, gop), *_threads(threads), *_mp4_args(), out("proxy")]
    if video is not None and "poster" in outs:
        args += [*_jpeg_args("vo", opts.poster_quality), out("poster")]
    if video is not None and "thumbs" in outs and plan.thumbs is not None:
        args += [*_jpeg_args("vt", opts.thumb_quality), out("thumbs")]
    if info.audio is not None and "audio16k" in outs:
        fmt = "flac" if opts.speech_codec == "flac" else "wav"
        args += ["-map", "[as]", "-ac", "1", "-ar", str(opts.speech_rate)]
        args += ["-c:a", opts.speech_codec, "-f", fmt, out("audio16k")]
    return args


def pcm_args(src: Path, dst: Path, *, sample_rate: int, ffmpeg: str = "ffmpeg") -> list[str]:
    """Decode the first audio stream of `src` to raw mono signed 16-bit PCM (for peaks)."""
    return [
        ffmpeg,
        *GLOBAL_ARGS,
        "-nostats",
        "-y",
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-format_whitelist",
        FORMAT_WHITELIST,
        "-i",
        input_url(src),
        "-map",
        "0:a:0",
        "-ac",
        "1",
        "-ar",
        str(sample_rate),
        "-c:a",
        "pcm_s16le",
        "-f",
        "s16le",
        output_url(dst),
    ]


def _vtt_time(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def thumbs_vtt(grid: ThumbGrid, sprite_name: str = OUTPUT_NAMES["thumbs"]) -> str:
    """WebVTT index of the sprite: one cue per tile with a `#xywh=` media fragment."""
    lines = ["WEBVTT", ""]
    for i in range(grid.count):
        start, end, x, y = grid.cue(i)
        lines.append(f"{_vtt_time(start)} --> {_vtt_time(end)}")
        lines.append(f"{sprite_name}#xywh={x},{y},{grid.tile_width},{grid.tile_height}")
        lines.append("")
    return "\n".join(lines)


def timeout_for(duration_s: float | None, size: int | None, factor: float, base_s: float) -> float:
    """Time limit for one ffmpeg run, scaled to the media's length.

    With no known duration, assume a low 1 Mbit/s bitrate so that long files still get
    a generous limit rather than being killed and retried forever.
    """
    duration = duration_s if duration_s else (size or 0) / 125_000
    return factor * duration + base_s
