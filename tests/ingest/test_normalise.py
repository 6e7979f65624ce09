"""The normalise stage run for real: generated sources in, ffprobe checks on what comes out."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from ingest.errors import FFmpegTimeout, MediaUndecodable
from ingest.normalise import NormaliseParams, params_hash, run_ffmpeg, run_normalise
from storage.db.schema import Derivative, LedgerEvent
from storage.errors import PermanentError
from storage.services import Services
from tests.ingest.normalise_fixtures import (
    add_recording,
    box_order,
    ffprobe,
    make_source,
    packet_times,
    play_in_chromium,
)
from tests.needs import unavailable

SHARED_AV = Path(__file__).resolve().parents[2] / ".." / "shared" / "media" / "av"
KINDS = ("h264_aac", "mpeg2", "mjpeg", "rotated", "vfr", "audio", "video_only", "h264_pcm")
SUFFIX = {"mpeg2": ".mpg", "mjpeg": ".avi", "vfr": ".mkv", "audio": ".m4a", "h264_pcm": ".mov"}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    made = {k: make_source(folder / f"{k}{SUFFIX.get(k, '.mp4')}", k) for k in KINDS}
    made["garbage"] = make_source(folder / "garbage.mp4", "garbage")
    return made


def _normalise(
    svc: Services, src: Path, params: NormaliseParams | None = None
) -> tuple[str, dict[str, Any], list[float]]:
    recording_id = add_recording(svc, src)
    seen: list[float] = []
    summary = run_normalise(svc, recording_id, params or NormaliseParams(), seen.append)
    return recording_id, summary, seen


def _path(svc: Services, summary: dict[str, Any], kind: str) -> Path:
    return Path(svc.settings.resolved_objects_dir / summary["outputs"][kind]["key"])


def _streams(info: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in info["streams"] if s["codec_type"] == kind]


def _frame_rate(stream: dict[str, Any]) -> float:
    num, den = stream["avg_frame_rate"].split("/")
    return int(num) / int(den)


def assert_mezzanine(mezz: Path, src: Path, *, size: tuple[int, int], audio: bool = True) -> None:
    """Browser-playable, faststart, and the original's duration, size and frame rate."""
    out, orig = ffprobe(mezz), ffprobe(src)
    assert "mp4" in out["format"]["format_name"]
    [video] = _streams(out, "video")
    assert video["codec_name"] == "h264" and video["pix_fmt"] in ("yuv420p", "yuvj420p")
    assert (video["width"], video["height"]) == size
    assert not video.get("side_data_list")  # rotation applied, not left as metadata
    [orig_video] = _streams(orig, "video")
    rate = _frame_rate(orig_video)
    assert _frame_rate(video) == pytest.approx(rate, rel=0.01)
    one_frame = 1.0 / rate
    assert float(out["format"]["duration"]) == pytest.approx(
        float(orig["format"]["duration"]), abs=one_frame
    )
    assert len(packet_times(mezz)) == len(packet_times(src))
    assert [s["codec_name"] for s in _streams(out, "audio")] == (["aac"] if audio else [])
    order = box_order(mezz)
    assert order.index("moov") < order.index("mdat"), order  # faststart


def _packet_sizes(path: Path, stream: str) -> list[str]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=size"]
        + ["-of", "csv=p=0", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()


def _gray_frame(path: Path, *, autorotate: bool) -> np.ndarray[Any, Any]:
    info = ffprobe(path)
    [video] = _streams(info, "video")
    width, height = video["width"], video["height"]
    rotated = autorotate and bool(video.get("side_data_list"))
    if rotated:
        width, height = height, width
    args = ["ffmpeg", "-v", "error", *([] if autorotate else ["-noautorotate"]), "-i", str(path)]
    args += ["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"]
    raw = subprocess.run(args, check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width).astype(np.int16)


def _derived_counts(svc: Services) -> tuple[int, int]:
    with svc.db.session() as session:
        rows = session.scalar(select(func.count()).select_from(Derivative))
        events = session.scalar(
            select(func.count()).select_from(LedgerEvent).where(LedgerEvent.action == "derived")
        )
    return int(rows or 0), int(events or 0)


# --------------------------------------------------------------------------- video


def test_browser_ready_original_is_stream_copied(
    svc_sqlite: Services, sources: dict[str, Path]
) -> None:
    src = sources["h264_aac"]
    _, summary, progress = _normalise(svc_sqlite, src)
    assert summary["copied"] == {"video": True, "audio": True}
    assert json.loads(json.dumps(summary)) == summary  # job rows store it as JSON
    assert set(summary["outputs"]) == {
        "mezzanine",
        "proxy",
        "poster",
        "thumbs",
        "thumbs_vtt",
        "audio16k",
    }
    mezz = _path(svc_sqlite, summary, "mezzanine")
    assert_mezzanine(mezz, src, size=(320, 240))
    # A copy carries the very same compressed packets.
    assert _packet_sizes(mezz, "v:0") == _packet_sizes(src, "v:0")
    assert _packet_sizes(mezz, "a:0") == _packet_sizes(src, "a:0")
    assert progress == sorted(progress) and progress[-1] == 1.0


@pytest.mark.parametrize("kind", ["mpeg2", "mjpeg"])
def test_old_codecs_are_reencoded(
    svc_sqlite: Services, sources: dict[str, Path], kind: str
) -> None:
    src = sources[kind]
    _, summary, _ = _normalise(svc_sqlite, src)
    assert summary["copied"] == {"video": False, "audio": False}
    mezz = _path(svc_sqlite, summary, "mezzanine")
    assert_mezzanine(mezz, src, size=(320, 240))
    assert _packet_sizes(mezz, "v:0") != _packet_sizes(src, "v:0")


def test_side_outputs(svc_sqlite: Services, sources: dict[str, Path]) -> None:
    _, summary, _ = _normalise(svc_sqlite, sources["mpeg2"])
    proxy = ffprobe(_path(svc_sqlite, summary, "proxy"))
    [pv] = _streams(proxy, "video")
    # 240 lines is below the 360p proxy height: never upscaled.
    assert (pv["codec_name"], pv["width"], pv["height"]) == ("h264", 320, 240)
    assert box_order(_path(svc_sqlite, summary, "proxy"))[:2] == ["ftyp", "moov"]
    poster = ffprobe(_path(svc_sqlite, summary, "poster"))
    [po] = _streams(poster, "video")
    assert (po["codec_name"], po["width"], po["height"]) == ("mjpeg", 320, 240)
    grid = summary["thumbs"]
    sprite = ffprobe(_path(svc_sqlite, summary, "thumbs"))
    [sp] = _streams(sprite, "video")
    assert (sp["width"], sp["height"]) == (
        grid["columns"] * grid["tile_width"],
        grid["rows"] * grid["tile_height"],
    )
    vtt = _path(svc_sqlite, summary, "thumbs_vtt").read_text()
    assert vtt.startswith("WEBVTT")
    assert vtt.count("thumbs.jpg#xywh=") == grid["count"] == 2
    speech = ffprobe(_path(svc_sqlite, summary, "audio16k"))
    [sa] = _streams(speech, "audio")
    assert (sa["codec_name"], sa["sample_rate"], sa["channels"]) == ("pcm_s16le", "16000", 1)
    assert float(speech["format"]["duration"]) == pytest.approx(3.0, abs=0.1)


def test_rotated_phone_clip_is_turned_upright(
    svc_sqlite: Services, sources: dict[str, Path]
) -> None:
    src = sources["rotated"]
    _, summary, _ = _normalise(svc_sqlite, src)
    rotation = summary["media"]["rotation"]
    assert rotation in (90, 270) and not summary["copied"]["video"]
    mezz = _path(svc_sqlite, summary, "mezzanine")
    assert_mezzanine(mezz, src, size=(240, 320))
    # The pixels are turned the way the display matrix says, not merely relabelled.
    stored = _gray_frame(src, autorotate=False)
    shown = _gray_frame(mezz, autorotate=True)
    turn = -rotation // 90  # np.rot90 turns counter-clockwise
    right = np.abs(np.rot90(stored, turn) - shown).mean()
    wrong = np.abs(np.rot90(stored, turn + 2) - shown).mean()
    assert right < 8 < wrong
    [po] = _streams(ffprobe(_path(svc_sqlite, summary, "poster")), "video")
    assert (po["width"], po["height"]) == (240, 320)
    assert summary["thumbs"]["tile_height"] > summary["thumbs"]["tile_width"]


def test_variable_frame_rate_keeps_its_timestamps(
    svc_sqlite: Services, sources: dict[str, Path]
) -> None:
    src = sources["vfr"]
    _, summary, _ = _normalise(svc_sqlite, src)
    assert summary["copied"]["video"] is False  # 4:2:2 source: re-encoded
    mezz = _path(svc_sqlite, summary, "mezzanine")
    [video] = _streams(ffprobe(mezz), "video")
    assert (video["codec_name"], video["pix_fmt"]) == ("h264", "yuv420p")
    order = box_order(mezz)
    assert order.index("moov") < order.index("mdat")
    before, after = packet_times(src), packet_times(mezz)
    assert len(after) == len(before) == 60
    gaps = np.diff(after)
    assert gaps.max() == pytest.approx(31 / 30, abs=0.002)  # the one-second hole survives
    assert np.allclose(np.array(after) - after[0], np.array(before) - before[0], atol=0.002)
    assert float(ffprobe(mezz)["format"]["duration"]) == pytest.approx(3.0, abs=1 / 30)


def test_video_without_audio(svc_sqlite: Services, sources: dict[str, Path]) -> None:
    src = sources["video_only"]
    _, summary, _ = _normalise(svc_sqlite, src)
    assert "audio16k" not in summary["outputs"] and "peaks" not in summary["outputs"]
    assert_mezzanine(_path(svc_sqlite, summary, "mezzanine"), src, size=(320, 240), audio=False)


def test_copied_video_with_encoded_audio(svc_sqlite: Services, sources: dict[str, Path]) -> None:
    src = sources["h264_pcm"]
    _, summary, _ = _normalise(svc_sqlite, src)
    assert summary["copied"] == {"video": True, "audio": False}
    mezz = _path(svc_sqlite, summary, "mezzanine")
    assert_mezzanine(mezz, src, size=(320, 240))
    assert _packet_sizes(mezz, "v:0") == _packet_sizes(src, "v:0")


# --------------------------------------------------------------------------- audio


def test_audio_only_gets_speech_audio_and_peaks(
    svc_sqlite: Services, sources: dict[str, Path]
) -> None:
    _, summary, _ = _normalise(svc_sqlite, sources["audio"])
    assert set(summary["outputs"]) == {"audio16k", "peaks"}
    [sa] = _streams(ffprobe(_path(svc_sqlite, summary, "audio16k")), "audio")
    assert (sa["sample_rate"], sa["channels"]) == ("16000", 1)
    peaks = json.loads(_path(svc_sqlite, summary, "peaks").read_text())
    assert (peaks["version"], peaks["bits"], peaks["channels"]) == (2, 8, 1)
    assert peaks["samples_per_pixel"] == 16000 // 50
    assert len(peaks["data"]) == 2 * peaks["length"]
    assert peaks["length"] == pytest.approx(3.0 * 50, abs=3)
    mins, maxs = np.array(peaks["data"][0::2]), np.array(peaks["data"][1::2])
    assert (mins <= maxs).all()
    # A steady sine at ffmpeg's default 1/8 full scale: about +-16 in 8 bits throughout.
    middle = slice(5, peaks["length"] - 5)
    assert np.all(maxs[middle] >= 12) and np.all(mins[middle] <= -12)
    assert np.median(maxs) == pytest.approx(16, abs=1)
    assert np.median(mins) == pytest.approx(-16, abs=1)


# --------------------------------------------------------------------------- failures


def test_undecodable_file_is_a_permanent_error(
    svc_sqlite: Services, sources: dict[str, Path]
) -> None:
    recording_id = add_recording(svc_sqlite, sources["garbage"])
    with pytest.raises(PermanentError) as caught:
        run_normalise(svc_sqlite, recording_id, NormaliseParams(), lambda _: None)
    assert isinstance(caught.value, MediaUndecodable)
    assert "Invalid data found" in str(caught.value)
    assert _derived_counts(svc_sqlite) == (0, 0)


def test_ffmpeg_failure_keeps_stderr_tail(tmp_path: Path, sources: dict[str, Path]) -> None:
    args = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(sources["garbage"])]
    args += ["-f", "null", "-"]
    with pytest.raises(MediaUndecodable, match="Invalid data found"):
        run_ffmpeg(args, timeout_s=60, duration_s=None, stderr_path=tmp_path / "err.log")


def test_timeout_is_transient_not_permanent(tmp_path: Path) -> None:
    # -re paces reading at real time, so 60 s of input cannot finish in 0.5 s.
    args = ["ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i"]
    args += ["testsrc2=s=64x48:d=60", "-f", "null", "-"]
    with pytest.raises(FFmpegTimeout) as caught:
        run_ffmpeg(args, timeout_s=0.5, duration_s=60, stderr_path=tmp_path / "err.log")
    assert not isinstance(caught.value, PermanentError)


def test_unknown_recording_is_permanent(svc_sqlite: Services) -> None:
    with pytest.raises(PermanentError, match="no recording"):
        run_normalise(svc_sqlite, "missing", NormaliseParams(), lambda _: None)


# --------------------------------------------------------------------------- idempotency


def test_running_twice_stores_and_ledgers_nothing_twice(
    svc: Services, sources: dict[str, Path]
) -> None:
    recording_id, first, _ = _normalise(svc, sources["mpeg2"])
    counts = _derived_counts(svc)
    assert counts == (6, 6)
    second = run_normalise(svc, recording_id, NormaliseParams(threads=1), lambda _: None)
    assert second["reused"] and not first["reused"]
    assert second["outputs"] == first["outputs"]
    assert _derived_counts(svc) == counts


def test_partial_run_is_completed_without_duplicates(
    svc_sqlite: Services, sources: dict[str, Path]
) -> None:
    recording_id, only_mezz, _ = _normalise(
        svc_sqlite, sources["mpeg2"], NormaliseParams(outputs=("mezzanine",))
    )
    assert _derived_counts(svc_sqlite) == (1, 1)
    full = run_normalise(svc_sqlite, recording_id, NormaliseParams(), lambda _: None)
    assert not full["reused"]
    assert full["outputs"]["mezzanine"] == only_mezz["outputs"]["mezzanine"]
    assert _derived_counts(svc_sqlite) == (6, 6)


def test_params_hash_ignores_runtime_knobs() -> None:
    base = NormaliseParams()
    assert params_hash(base) == params_hash(NormaliseParams(threads=4, outputs=("mezzanine",)))
    assert params_hash(base) != params_hash(
        NormaliseParams.from_dict({"encode": {"crf": 23}, "threads": 2})
    )
    with pytest.raises(PermanentError):
        NormaliseParams.from_dict({"crf": 23})
    with pytest.raises(PermanentError, match="speech_codec"):
        NormaliseParams.from_dict({"encode": {"speech_codec": "mp3"}})


# --------------------------------------------------------------------------- real media


@pytest.mark.media
@pytest.mark.parametrize("name", ["grid_bbaf2n.mpg", "grid_lwbsza.mpg"])
def test_real_mpeg1_recordings(svc_sqlite: Services, name: str) -> None:
    src = SHARED_AV / name
    if not src.exists():
        unavailable(f"shared media not present: {src}")
    _, summary, _ = _normalise(svc_sqlite, src)
    assert summary["copied"] == {"video": False, "audio": False}
    assert_mezzanine(_path(svc_sqlite, summary, "mezzanine"), src, size=(360, 288))
    [sa] = _streams(ffprobe(_path(svc_sqlite, summary, "audio16k")), "audio")
    assert (sa["sample_rate"], sa["channels"]) == ("16000", 1)


# --------------------------------------------------------------------------- browser


@pytest.mark.slow
def test_mezzanines_play_in_chromium(
    svc_sqlite: Services, sources: dict[str, Path], tmp_path: Path
) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        unavailable("chromium not installed")
    expected: dict[str, tuple[float, int, int]] = {}
    for kind in ("h264_aac", "mpeg2", "rotated", "vfr"):
        _, summary, _ = _normalise(svc_sqlite, sources[kind])
        for output in ("mezzanine", "proxy"):
            name = f"{kind}-{output}.mp4"
            shutil.copy(_path(svc_sqlite, summary, output), tmp_path / name)
            media = summary["media"]
            if output == "mezzanine":
                expected[name] = (media["duration_s"], media["width"], media["height"])
    names = sorted(p.name for p in tmp_path.glob("*.mp4"))
    results = play_in_chromium(browser, tmp_path, names)
    assert set(results) == set(names)
    for name, played in results.items():
        assert "error" not in played, (name, played)
        assert played["ready"] >= 2 and played["time"] > 0, name  # decoded at the seek point
        if name in expected:
            duration, width, height = expected[name]
            assert played["duration"] == pytest.approx(duration, abs=0.05), name
            assert (played["width"], played["height"]) == (width, height), name
