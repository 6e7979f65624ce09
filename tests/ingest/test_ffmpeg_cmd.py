"""ffmpeg argument lists and normalise planning, checked without running ffmpeg."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from ingest import ffmpeg_cmd as cmd

SRC = Path("/media/in put.mpg")
OUT = Path("/work/out")


def _video(**kw: Any) -> dict[str, Any]:
    stream: dict[str, Any] = {
        "index": 0,
        "codec_type": "video",
        "codec_name": "h264",
        "pix_fmt": "yuv420p",
        "width": 1920,
        "height": 1080,
        "sample_aspect_ratio": "1:1",
        "avg_frame_rate": "25/1",
        "r_frame_rate": "25/1",
        "field_order": "progressive",
        "duration": "20.0",
    }
    stream.update(kw)
    return stream


def _audio(**kw: Any) -> dict[str, Any]:
    stream: dict[str, Any] = {
        "index": 1,
        "codec_type": "audio",
        "codec_name": "aac",
        "profile": "LC",
        "channels": 2,
        "sample_rate": "48000",
        "duration": "20.0",
    }
    stream.update(kw)
    return stream


def _info(*streams: dict[str, Any], duration: str | None = "20.0", fmt: str = "mov,mp4") -> Any:
    data: dict[str, Any] = {"streams": list(streams), "format": {"format_name": fmt}}
    if duration is not None:
        data["format"]["duration"] = duration
    return cmd.parse_probe(data)


def _args(info: cmd.MediaInfo, **kw: Any) -> list[str]:
    opts = cmd.EncodeOptions()
    plan = cmd.plan_normalise(info, opts)
    return cmd.normalise_args(SRC, OUT, info, plan, opts, **kw)


def _after(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def _output_args(args: list[str], name: str) -> list[str]:
    """The options that belong to one output file (from the previous output on)."""
    end = args.index(f"file:{OUT / name}")
    starts = [i for i, a in enumerate(args[:end]) if a.startswith("file:")]
    own = args[starts[-1] + 1 : end]
    return own[own.index("-map") :]  # global options after the input are not its own


# --------------------------------------------------------------------------- probing


def test_parse_probe_picks_streams_and_skips_cover_art() -> None:
    cover = _video(index=0, codec_name="mjpeg", disposition={"attached_pic": 1})
    info = _info(cover, _audio(index=1), fmt="mov,mp4,m4a")
    assert info.video is None
    assert info.audio is not None and info.audio.index == 1
    assert info.audio_only


@pytest.mark.parametrize(
    ("stream_extra", "clockwise"),
    [
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]}, 90),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": 90}]}, 270),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": 180}]}, 180),
        ({"tags": {"rotate": "90"}}, 90),
        ({}, 0),
    ],
)
def test_rotation_read_as_clockwise_degrees(stream_extra: dict[str, Any], clockwise: int) -> None:
    info = _info(_video(width=1280, height=720, **stream_extra))
    assert info.video is not None
    assert info.video.rotation == clockwise
    expected = (720, 1280) if clockwise in (90, 270) else (1280, 720)
    assert info.video.display_size == expected


def test_variable_rate_sar_and_duration_fallback() -> None:
    info = _info(
        _video(avg_frame_rate="45/2", r_frame_rate="30/1", sample_aspect_ratio="8:9", width=720),
        duration=None,
    )
    assert info.video is not None
    assert info.video.variable_rate
    assert info.video.sar == Fraction(8, 9)
    assert info.video.display_size == (640, 1080)
    assert info.duration_s == 20.0  # from the stream when the container has none
    cfr = _info(_video())
    assert cfr.video is not None and not cfr.video.variable_rate


@pytest.mark.parametrize(
    ("fmt", "streams", "reason"),
    [
        ("hls", [_video()], "refers to other resources"),
        ("concat", [_video()], "refers to other resources"),
        ("png_pipe", [_video(codec_name="png")], "still image"),
        ("image2", [_video(codec_name="mjpeg")], "still image"),
        ("mov,mp4", [{"index": 0, "codec_type": "data"}], "no audio or video"),
    ],
)
def test_refusals(fmt: str, streams: list[dict[str, Any]], reason: str) -> None:
    assert reason in (cmd.refusal_reason(_info(*streams, fmt=fmt)) or "")


def test_no_refusal_for_ordinary_media() -> None:
    assert cmd.refusal_reason(_info(_video(), _audio())) is None


def test_probe_args_whitelist_and_file_url() -> None:
    args = cmd.probe_args(SRC)
    assert args[0] == "ffprobe"
    assert args[args.index("-protocol_whitelist") + 1] == "file,pipe"
    assert args[-1] == f"file:{SRC}"


# --------------------------------------------------------------------------- planning


def test_browser_ready_source_is_copied() -> None:
    plan = cmd.plan_normalise(_info(_video(), _audio()), cmd.EncodeOptions())
    assert plan.copy_video and plan.copy_audio
    assert plan.outputs == (
        "mezzanine",
        "proxy",
        "poster",
        "thumbs",
        "thumbs_vtt",
        "audio16k",
    )


@pytest.mark.parametrize(
    "video",
    [
        _video(codec_name="mpeg2video"),
        _video(pix_fmt="yuv422p"),
        _video(pix_fmt="yuv420p10le"),
        _video(side_data_list=[{"rotation": -90}]),
        _video(width=1921),
        _video(field_order="tt"),
        _video(codec_name="hevc"),
    ],
)
def test_video_not_copied_when_a_browser_would_struggle(video: dict[str, Any]) -> None:
    plan = cmd.plan_normalise(_info(video, _audio()), cmd.EncodeOptions())
    assert not plan.copy_video
    assert plan.copy_audio  # audio is decided on its own


@pytest.mark.parametrize(
    "audio", [_audio(codec_name="mp3"), _audio(profile="Main"), _audio(channels=6)]
)
def test_audio_copy_decided_on_its_own(audio: dict[str, Any]) -> None:
    plan = cmd.plan_normalise(_info(_video(), audio), cmd.EncodeOptions())
    assert plan.copy_video and not plan.copy_audio


def test_audio_only_gets_speech_audio_and_peaks() -> None:
    plan = cmd.plan_normalise(_info(_audio(index=0), fmt="mp3"), cmd.EncodeOptions())
    assert plan.outputs == ("audio16k", "peaks")
    assert plan.ffmpeg_outputs == ("audio16k",)


def test_video_without_audio_gets_no_speech_audio() -> None:
    plan = cmd.plan_normalise(_info(_video()), cmd.EncodeOptions())
    assert "audio16k" not in plan.outputs and "peaks" not in plan.outputs
    assert "mezzanine" in plan.outputs


def test_proxy_never_upscales_and_poster_time() -> None:
    small = _info(_video(width=320, height=240, duration="1.5"), duration="1.5")
    plan = cmd.plan_normalise(small, cmd.EncodeOptions(proxy_height=360))
    assert plan.proxy_height == 240
    assert plan.poster_at_s == 0.0  # short clip: first frame
    big = cmd.plan_normalise(_info(_video()), cmd.EncodeOptions(proxy_height=360))
    assert big.proxy_height == 360
    assert big.poster_at_s == pytest.approx(2.0)


def test_odd_dimensions_are_padded_even() -> None:
    plan = cmd.plan_normalise(_info(_video(width=321, height=241)), cmd.EncodeOptions())
    assert plan.pad_to_even and not plan.copy_video
    graph = cmd.filter_graph(_info(_video(width=321, height=241)), plan)
    assert "pad=ceil(iw/2)*2:ceil(ih/2)*2" in graph


def test_unknown_output_refused() -> None:
    with pytest.raises(ValueError, match="unknown outputs"):
        cmd.plan_normalise(_info(_video()), cmd.EncodeOptions(), ["mezzanine", "gif"])


def test_thumb_grid_geometry() -> None:
    opts = cmd.EncodeOptions(thumb_width=160, thumb_interval_s=2.0, thumb_max=100)
    grid = cmd.thumb_grid(25.0, (1920, 1080), opts)
    assert (grid.count, grid.columns, grid.rows) == (13, 10, 2)
    assert (grid.tile_width, grid.tile_height) == (160, 90)
    assert grid.rate == Fraction(13, 25)
    assert cmd.thumb_grid(3600.0, (1920, 1080), opts).count == 100
    portrait = cmd.thumb_grid(3.0, (240, 320), opts)
    assert (portrait.count, portrait.tile_width, portrait.tile_height) == (2, 160, 214)


# --------------------------------------------------------------------------- commands


def test_every_command_is_local_and_quiet() -> None:
    args = _args(_info(_video(codec_name="mpeg2video"), _audio(codec_name="mp2")))
    assert args[:5] == ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"]
    whitelist = args.index("-protocol_whitelist")
    assert args[whitelist + 1] == "file,pipe"
    assert whitelist < args.index("-i")  # an input option: must precede the input
    assert args[args.index("-i") + 1] == f"file:{SRC}"
    assert _after(args, "-progress") == ["pipe:1"]
    urls = [a for a in args if "://" in a or a.startswith(("http", "tcp", "udp", "rtmp"))]
    assert urls == []
    outputs = [a for a in args if a.startswith("file:") and a != f"file:{SRC}"]
    assert outputs == [
        f"file:{OUT / n}"
        for n in ("mezzanine.mp4", "proxy.mp4", "poster.jpg", "thumbs.jpg", "audio16k.wav")
    ]


def test_reencode_graph_decodes_once_and_splits() -> None:
    info = _info(_video(codec_name="mpeg2video"), _audio(codec_name="mp2"))
    args = _args(info)
    assert args.count("-i") == 1 and args.count("-filter_complex") == 1
    graph = args[args.index("-filter_complex") + 1]
    assert graph.startswith("[0:0]split=4[vm0][vp0][vo0][vt0];")
    assert "[0:1]asplit=3[am0][ap0][as0]" in graph
    assert "scale=-2:360:flags=bilinear" in graph
    assert "trim=start=2.000" in graph
    assert "fps=1/2,scale=160:90,setsar=1,tile=10x1" in graph  # 10 tiles over 20 s

    mezz = _output_args(args, "mezzanine.mp4")
    assert mezz[:4] == ["-map", "[vm]", "-map", "[am]"]
    assert _after(mezz, "-c:v") == ["libx264"]
    assert _after(mezz, "-preset") == ["veryfast"]
    assert _after(mezz, "-crf") == ["20"]
    assert _after(mezz, "-pix_fmt") == ["yuv420p"]
    assert _after(mezz, "-fps_mode") == ["passthrough"]
    assert _after(mezz, "-movflags") == ["+faststart"]
    assert _after(mezz, "-c:a") == ["aac"]
    assert _after(mezz, "-g") == ["100"]

    proxy = _output_args(args, "proxy.mp4")
    assert _after(proxy, "-preset") == ["superfast"]
    assert _after(proxy, "-movflags") == ["+faststart"]

    poster = _output_args(args, "poster.jpg")
    assert poster[:2] == ["-map", "[vo]"] and _after(poster, "-frames:v") == ["1"]
    thumbs = _output_args(args, "thumbs.jpg")
    assert thumbs[:2] == ["-map", "[vt]"] and _after(thumbs, "-frames:v") == ["1"]
    speech = _output_args(args, "audio16k.wav")
    assert speech[:2] == ["-map", "[as]"]
    assert _after(speech, "-ar") == ["16000"] and _after(speech, "-ac") == ["1"]
    assert _after(speech, "-c:a") == ["pcm_s16le"]


def test_copy_maps_source_streams_and_skips_their_decode() -> None:
    args = _args(_info(_video(), _audio()))
    mezz = _output_args(args, "mezzanine.mp4")
    assert mezz[:4] == ["-map", "0:0", "-map", "0:1"]
    assert _after(mezz, "-c:v") == ["copy"] and _after(mezz, "-c:a") == ["copy"]
    assert _after(mezz, "-movflags") == ["+faststart"]
    graph = args[args.index("-filter_complex") + 1]
    assert "[vm" not in graph and "[am" not in graph
    assert "split=3[vp0][vo0][vt0]" in graph and "asplit=2[ap0][as0]" in graph


def test_mezzanine_only_copy_needs_no_filter_graph() -> None:
    info = _info(_video(), _audio())
    opts = cmd.EncodeOptions()
    plan = cmd.plan_normalise(info, opts, ["mezzanine"])
    args = cmd.normalise_args(SRC, OUT, info, plan, opts)
    assert "-filter_complex" not in args
    assert _after(args, "-c:v") == ["copy"]


def test_rotated_source_is_encoded_with_autorotation_left_on() -> None:
    info = _info(_video(side_data_list=[{"rotation": -90}]), _audio())
    args = _args(info)
    assert "-noautorotate" not in args
    mezz = _output_args(args, "mezzanine.mp4")
    assert _after(mezz, "-c:v") == ["libx264"]
    graph = args[args.index("-filter_complex") + 1]
    # Tiles follow the displayed (portrait) shape.
    assert "scale=160:284" in graph


def test_threads_and_interlace_and_many_channels() -> None:
    info = _info(_video(field_order="tt"), _audio(codec_name="ac3", channels=6))
    args = _args(info, threads=3)
    assert _after(args, "-threads") == ["3", "3", "3"]  # decoder, mezzanine, proxy
    assert _after(args, "-filter_complex_threads") == ["3"]
    graph = args[args.index("-filter_complex") + 1]
    assert graph.startswith("[0:0]yadif=mode=send_frame:deint=interlaced,split=")
    assert _after(_output_args(args, "mezzanine.mp4"), "-ac") == ["2"]
    assert "-threads" not in _args(info)


def test_video_only_has_no_audio_maps() -> None:
    args = _args(_info(_video(codec_name="mjpeg")))
    assert "[am]" not in args and "[ap]" not in args and "[as]" not in args
    assert "asplit" not in args[args.index("-filter_complex") + 1]


def test_nvenc_encoder_options() -> None:
    info = _info(_video(codec_name="mpeg2video"))
    opts = cmd.EncodeOptions(video_encoder="h264_nvenc")
    plan = cmd.plan_normalise(info, opts, ["mezzanine"])
    mezz = cmd.normalise_args(SRC, OUT, info, plan, opts)
    assert _after(mezz, "-c:v") == ["h264_nvenc"]
    assert "-crf" not in mezz and _after(mezz, "-cq") == ["23"]
    assert _after(mezz, "-fps_mode") == ["passthrough"]


def test_audio_only_command_and_flac() -> None:
    info = _info(_audio(index=0, codec_name="mp3"), fmt="mp3")
    opts = cmd.EncodeOptions(speech_codec="flac")
    plan = cmd.plan_normalise(info, opts)
    args = cmd.normalise_args(SRC, OUT, info, plan, opts, progress=False)
    assert "-progress" not in args
    assert args[-1] == f"file:{OUT / 'audio16k.flac'}"
    assert _after(args, "-c:a") == ["flac"]
    assert args[args.index("-filter_complex") + 1] == "[0:0]asplit=1[as0];[as0]anull[as]"


def test_pcm_args() -> None:
    args = cmd.pcm_args(SRC, OUT / "pcm.raw", sample_rate=16000)
    assert args[args.index("-protocol_whitelist") + 1] == "file,pipe"
    assert _after(args, "-f") == ["s16le"] and _after(args, "-ar") == ["16000"]
    assert args[-1] == f"file:{OUT / 'pcm.raw'}"


def test_thumbs_vtt_cues() -> None:
    grid = cmd.ThumbGrid(count=3, columns=2, rows=2, tile_width=160, tile_height=90, duration_s=7.5)
    vtt = cmd.thumbs_vtt(grid)
    assert vtt.startswith("WEBVTT\n\n")
    assert vtt.endswith("\n")
    assert [cue.strip() for cue in vtt.split("\n\n")[1:4]] == [
        "00:00:00.000 --> 00:00:02.500\nthumbs.jpg#xywh=0,0,160,90",
        "00:00:02.500 --> 00:00:05.000\nthumbs.jpg#xywh=160,0,160,90",
        "00:00:05.000 --> 00:00:07.500\nthumbs.jpg#xywh=0,90,160,90",
    ]
    long = cmd.ThumbGrid(1, 1, 1, 160, 90, 3725.25)
    assert "01:02:05.250" in cmd.thumbs_vtt(long)


def test_timeout_scales_with_duration() -> None:
    assert cmd.timeout_for(100.0, None, 4.0, 120.0) == 520.0
    # Unknown duration: assume 1 Mbit/s, so a 1.25 GB file gets 10000 s of media.
    assert cmd.timeout_for(None, 1_250_000_000, 4.0, 120.0) == 40_120.0
    assert cmd.timeout_for(None, None, 4.0, 120.0) == 120.0


def test_pictures_follow_the_video_track() -> None:
    # Video ends at 10 s while audio runs on to 20 s: poster and tiles come from 0..10 s.
    info = _info(_video(duration="10.0"), _audio(duration="20.0"), duration="20.0")
    plan = cmd.plan_normalise(info, cmd.EncodeOptions())
    assert plan.poster_at_s == pytest.approx(1.0)
    assert plan.thumbs is not None and plan.thumbs.duration_s == 10.0
    assert plan.duration_s == 20.0


def test_unknown_length_gets_no_thumbnail_strip() -> None:
    info = cmd.parse_probe({"streams": [_video(duration=None)], "format": {"format_name": "h264"}})
    plan = cmd.plan_normalise(info, cmd.EncodeOptions())
    assert info.duration_s is None
    assert "thumbs" not in plan.outputs and "thumbs_vtt" not in plan.outputs
    assert plan.poster_at_s == 0.0 and "mezzanine" in plan.outputs


@pytest.mark.parametrize(
    "bad",
    [
        {"video_encoder": "libx265"},
        {"speech_codec": "mp3"},
        {"proxy_height": 0},
        {"thumb_interval_s": 0},
        {"crf": 60},
        {"poster_fraction": 1.5},
    ],
)
def test_encode_options_refuse_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        cmd.EncodeOptions(**bad)
