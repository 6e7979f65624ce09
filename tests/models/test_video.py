"""Decoding frames with PyAV: timing from timestamps, rotation, corrupt frames, downscale."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import numpy as np
import pytest

from models.vision.detect.errors import VideoError
from models.vision.video import DecodeStats, decode_frames, fit_within, probe_video
from tests.models.detect_fixtures import GRID_CLIPS, ffmpeg, media


def _testsrc(path: Path, *extra: str, seconds: float = 1.0, size: str = "160x120") -> Path:
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25", "-t", str(seconds), *extra,
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "5", str(path),
    )  # fmt: skip
    return path


def test_grid_clip_frames_and_times() -> None:
    path = media("av", GRID_CLIPS[0])
    info = probe_video(path)
    assert (info.width, info.height, info.fps, info.rotation) == (360, 288, 25.0, 0)
    stats = DecodeStats()
    frames = list(decode_frames(path, stats))
    assert stats.frames == len(frames) == 75 and stats.corrupt == 0
    assert [f.index for f in frames] == list(range(75))
    assert frames[0].time == pytest.approx(0.0) and frames[-1].time == pytest.approx(2.96)
    assert all(b.time > a.time for a, b in zip(frames, frames[1:], strict=False))
    picture = frames[10].rgb()
    assert picture.shape == (288, 360, 3) and picture.dtype == np.uint8
    assert frames[10].rgb(180).shape == (144, 180, 3)  # downscaled for detection, aspect kept


def test_variable_frame_rate_times_come_from_timestamps(tmp_path: Path) -> None:
    # Frames 10 onwards are shifted by half a second: a gap a fixed-rate clock would miss.
    path = _testsrc(
        tmp_path / "vfr.mp4",
        "-vf", "setpts='N/25/TB+if(gte(N,10),0.5/TB,0)'", "-fps_mode", "passthrough",
    )  # fmt: skip
    times = [f.time for f in decode_frames(path)]
    probed = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=pts_time",
         "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.split()  # fmt: skip
    assert times == pytest.approx([float(t.strip(",")) for t in probed], abs=1e-4)
    assert times[:10] == pytest.approx([i / 25 for i in range(10)])
    assert times[10] - times[9] > 0.4


@pytest.mark.parametrize("rotate", [90, 270])
def test_rotation_applied_like_ffmpeg(tmp_path: Path, rotate: int) -> None:
    plain = _testsrc(tmp_path / "plain.mp4", seconds=0.2)
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v", f"rotate={rotate}", str(rotated))
    reference = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(rotated), "-frames:v", "1", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    info = probe_video(rotated)
    assert (info.width, info.height) == (120, 160) and info.rotation in (90, 270)
    first = next(decode_frames(rotated))
    assert first.size == (120, 160)
    picture = first.rgb()
    assert picture.shape == (160, 120, 3)
    expected = np.frombuffer(reference, dtype=np.uint8).reshape(160, 120, 3)
    assert np.abs(picture.astype(int) - expected).mean() < 2.0
    assert first.rgb(80).shape == (80, 60, 3)


def test_corrupt_frames_are_skipped_and_counted(tmp_path: Path) -> None:
    path = _testsrc(tmp_path / "clean.mp4", seconds=2.0, size="320x240")
    data = bytearray(path.read_bytes())
    rng = random.Random(7)
    start = len(data) // 3
    for i in range(start, start + 4000):
        data[i] = rng.randrange(256)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    stats = DecodeStats()
    frames = list(decode_frames(broken, stats))
    assert stats.corrupt > 0
    assert 0 < len(frames) < 50 and stats.frames == len(frames)
    assert [f.index for f in frames] == list(range(len(frames)))
    for frame in frames:
        assert frame.rgb().shape == (240, 320, 3)


def test_not_a_video(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 4096)
    with pytest.raises(VideoError):
        list(decode_frames(junk))
    audio = tmp_path / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", str(audio))
    with pytest.raises(VideoError, match="no video stream"):
        probe_video(audio)


def test_fit_within() -> None:
    assert fit_within(1920, 1080, 1280) == (1280, 720)
    assert fit_within(1080, 1920, 1280) == (720, 1280)
    assert fit_within(640, 360, 1280) == (640, 360)
    assert fit_within(640, 360, None) == (640, 360)
    assert fit_within(1001, 777, 500) == (500, 388)
