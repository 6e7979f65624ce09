"""Rendering a redaction plan: one decode, the plan applied frame by frame, one encode.

Video frames come from `models.vision.video.decode_frames`, the same decoder and frame numbering
detection used, so a track's box for frame N lands on frame N. Each frame gets its track
boxes (padded as tracked), manual regions (interpolated between keyframes) and full-frame
spans, and is encoded once with libx264 at the source's timestamps. Audio: every stream of
the original is kept, its planned spans muted or bleeped, in one ffmpeg run that copies the
rendered video; location and device metadata are dropped when the plan says so. The
output is then checked against the source: the same number of frames, the duration
within one frame, the same number of audio streams; a mismatch fails the render.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from disclosure.blur import Box, obscure
from disclosure.errors import RenderError
from disclosure.plan import Mute, Plan
from ingest.ffmpeg_cmd import GLOBAL_ARGS, PROTOCOL_WHITELIST
from models.vision.detect.errors import VideoError
from models.vision.track import Track
from models.vision.video import DecodeStats, decode_frames, probe_video

BLEEP_HZ = 1000


@dataclass(frozen=True)
class RenderOptions:
    encoder: str = "libx264"
    preset: str = "veryfast"
    crf: int = 20
    audio_bitrate: str = "128k"
    timeout_s: float = 3600.0


@dataclass(frozen=True)
class RenderedMedia:
    path: Path
    frames: int
    source_frames: int
    duration_s: float
    audio_streams: int
    boxes_drawn: int
    frames_touched: int


def _scaled(box: Box, sx: float, sy: float) -> Box:
    return (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)


def frame_regions(
    plan: Plan,
    tracks: dict[int, Track],
    index: int,
    time: float,
    size: tuple[int, int],
    track_size: tuple[int, int] | None,
) -> dict[tuple[str, bool], list[Box]]:
    """Boxes to obscure on one frame, grouped by (method, ellipse)."""
    width, height = size
    groups: dict[tuple[str, bool], list[Box]] = {}
    sx = width / track_size[0] if track_size else 1.0
    sy = height / track_size[1] if track_size else 1.0
    for item in plan.tracks:
        track = tracks.get(item.track_no)
        if not item.redact or track is None:
            continue
        box = track.box_at(index)
        if box is not None:
            groups.setdefault((item.method, True), []).append(_scaled(box, sx, sy))
    for region in plan.regions:
        box = region.box_at(time)
        if box is not None:
            groups.setdefault((region.method, region.shape == "ellipse"), []).append(box)
    for span in plan.full_frame:
        if span.start <= time <= span.end:
            groups.setdefault((span.method, False), []).append((0, 0, width, height))
    return groups


def _video_pass(
    src: Path,
    out: Path,
    plan: Plan,
    tracks: dict[int, Track],
    track_size: tuple[int, int] | None,
    options: RenderOptions,
    progress: Callable[[float], None] | None,
) -> tuple[int, int, int, float]:
    info = probe_video(src)
    rate = Fraction(info.fps).limit_denominator(1001) if info.fps else Fraction(25)
    time_base = Fraction(1, 90000)
    stats = DecodeStats()
    frames = touched = drawn = 0
    last_time = 0.0
    last_pts = -1
    with av.open(str(out), mode="w") as container:
        stream = container.add_stream(options.encoder, rate=rate)
        if not isinstance(stream, av.video.stream.VideoStream):
            raise RenderError(f"{options.encoder} is not a video encoder")
        stream.width, stream.height = info.width, info.height
        stream.pix_fmt = "yuv420p"
        stream.time_base = time_base
        stream.options = {"preset": options.preset, "crf": str(options.crf)}
        for frame in decode_frames(src, stats):
            picture = frame.rgb()
            height, width = picture.shape[:2]
            groups = frame_regions(plan, tracks, frame.index, frame.time, (width, height),
                                   track_size)  # fmt: skip
            for (method, ellipse), boxes in groups.items():
                obscure(picture, boxes, method=method, ellipse=ellipse, inplace=True)  # type: ignore[arg-type]
                drawn += len(boxes)
            touched += bool(groups)
            out_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            pts = max(last_pts + 1, int(round(frame.time / time_base)))
            out_frame.pts, out_frame.time_base = pts, time_base
            last_pts, last_time = pts, frame.time
            for packet in stream.encode(out_frame):
                container.mux(packet)
            frames += 1
            if progress is not None and info.duration_s:
                progress(min(0.9, 0.9 * frame.time / info.duration_s))
        for packet in stream.encode(None):
            container.mux(packet)
    return frames, touched, drawn, last_time + 1.0 / float(rate)


def _volume_filter(mutes: list[Mute]) -> str:
    """An audio filter silencing the spans, and adding a tone where they are bleeped."""
    if not mutes:
        return "anull"
    spans = "+".join(f"between(t,{m.start:.3f},{m.end:.3f})" for m in mutes)
    bleeps = [m for m in mutes if m.mode == "bleep"]
    graph = f"volume=volume=0:enable='{spans}'"
    if bleeps:
        tone = "+".join(f"between(t,{m.start:.3f},{m.end:.3f})" for m in bleeps)
        graph += f",aeval='val(ch)+0.2*sin(2*PI*{BLEEP_HZ}*t)*({tone})'"
    return graph


def audio_mux_args(
    video: Path | None,
    src: Path,
    out: Path,
    audio_indices: list[int],
    mutes: list[Mute],
    *,
    strip_metadata: bool,
    bitrate: str,
) -> list[str]:
    """ffmpeg arguments: the rendered video copied, every audio stream re-encoded with its
    spans muted, the original's metadata dropped (or kept)."""
    args = ["ffmpeg", *GLOBAL_ARGS, "-y"]
    if video is not None:
        args += ["-protocol_whitelist", PROTOCOL_WHITELIST, "-i", str(video)]
    source = 1 if video is not None else 0
    args += ["-protocol_whitelist", PROTOCOL_WHITELIST, "-i", str(src)]
    if video is not None:
        args += ["-map", "0:v:0"]
    filters = []
    for n, index in enumerate(audio_indices):
        mine = [m for m in mutes if m.stream_index == index]
        filters.append(f"[{source}:{index}]{_volume_filter(mine)}[a{n}]")
    if filters:
        args += ["-filter_complex", ";".join(filters)]
        for n in range(len(audio_indices)):
            args += ["-map", f"[a{n}]"]
        args += ["-c:a", "aac", "-b:a", bitrate]
    if video is not None:
        args += ["-c:v", "copy"]
    if strip_metadata:
        args += ["-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact"]
    else:
        args += ["-map_metadata", str(source)]
    args += ["-movflags", "+faststart", str(out)]
    return args


def _probe(path: Path) -> dict[str, object]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-show_streams", "-show_format",
         "-of", "json", str(path)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RenderError(f"cannot read the rendered file: {done.stderr.strip()[-500:]}")
    parsed: dict[str, object] = json.loads(done.stdout)
    return parsed


def render_media(
    src: Path,
    out: Path,
    plan: Plan,
    tracks: dict[int, Track],
    track_size: tuple[int, int] | None,
    audio_indices: list[int],
    options: RenderOptions | None = None,
    progress: Callable[[float], None] | None = None,
) -> RenderedMedia:
    """Render `plan` over `src` into `out` (MP4) and check the result against the source."""
    options = options or RenderOptions()
    video: Path | None = out.with_name(out.stem + ".video.mp4")
    try:
        try:
            probe_video(src)
        except VideoError:
            video = None  # audio only: nothing to draw on
        frames = touched = drawn = 0
        duration = 0.0
        if video is not None:
            frames, touched, drawn, duration = _video_pass(
                src, video, plan, tracks, track_size, options, progress
            )
        args = audio_mux_args(video, src, out, audio_indices, plan.mutes,
                              strip_metadata=plan.strip_metadata,
                              bitrate=options.audio_bitrate)  # fmt: skip
        done = subprocess.run(args, capture_output=True, text=True, timeout=options.timeout_s,
                              check=False)  # fmt: skip
        if done.returncode != 0:
            raise RenderError(f"muxing the audio failed: {done.stderr.strip()[-800:]}")
    finally:
        if video is not None:
            video.unlink(missing_ok=True)
    probed = _probe(out)
    streams = probed.get("streams", [])
    assert isinstance(streams, list)
    videos = [s for s in streams if s.get("codec_type") == "video"]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    out_frames = int(videos[0].get("nb_read_packets", 0)) if videos else 0
    out_duration = float(videos[0].get("duration", 0.0) or 0.0) if videos else 0.0
    problems = []
    if video is None:
        fmt = probed.get("format", {})
        out_duration = float(fmt.get("duration", 0.0)) if isinstance(fmt, dict) else 0.0
    elif out_frames != frames:
        problems.append(f"{out_frames} frames written, {frames} decoded from the source")
    frame_s = 1.0 / max(1.0, frames / max(duration, 1e-6))
    if video is not None and abs(out_duration - duration) > frame_s + 1e-3:
        problems.append(f"duration {out_duration:.3f} s against the source's {duration:.3f} s")
    if len(audios) != len(audio_indices):
        problems.append(f"{len(audios)} audio streams against the source's {len(audio_indices)}")
    if problems:
        out.unlink(missing_ok=True)
        raise RenderError("the render does not match its source: " + "; ".join(problems))
    if progress is not None:
        progress(1.0)
    return RenderedMedia(out, out_frames, frames, out_duration, len(audios), drawn, touched)
