"""Generate a small recorder dump for demos and tests, with the faults real dumps have."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# Browser-safe H.264 + AAC, fast to make: what a modern body-worn camera writes.
_H264_AAC = (
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    "-b:a",
    "64k",
)


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
        timeout=300,
    )


def make_clip(
    path: Path,
    seconds: float = 4.0,
    size: str = "320x240",
    rate: int = 25,
    creation_time: str | None = None,
    tone: int = 440,
    faststart: bool = True,
) -> Path:
    """An H.264/AAC MP4 from ffmpeg's test sources."""
    meta = ["-metadata", f"creation_time={creation_time}"] if creation_time else []
    flags = ["-movflags", "+faststart"] if faststart else []
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate={rate}:duration={seconds}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={tone}:sample_rate=48000:duration={seconds}",
        *_H264_AAC,
        "-shortest",
        *meta,
        *flags,
        str(path),
    )
    return path


SPOKEN = (
    "This is officer Li, body camera four two. The time is fourteen twenty. "
    "We are at the warehouse on Main Street for the seizure of goods."
)


def make_spoken_clip(path: Path, text: str = SPOKEN, size: str = "320x240") -> Path:
    """An H.264/AAC MP4 whose sound is synthetic speech (espeak-ng), for transcription."""
    wav = path.with_suffix(".speech.wav")
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), text], check=True, timeout=120)
    try:
        _ffmpeg(
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=25",
            "-i",
            str(wav),
            *_H264_AAC,
            "-ar",
            "48000",
            "-shortest",
            "-movflags",
            "+faststart",
            str(path),
        )
    finally:
        wav.unlink(missing_ok=True)
    return path


def make_sample_dump(
    folder: Path, seconds: float = 4.0, real_media: Path | None = None
) -> list[Path]:
    """A dump of a body-worn camera, a CCTV export and an interview room, faults included.

    `real_media`, when it holds the shared GRID clips (a real talking face), adds one as
    an interview-room recording; such files are copied into the dump, never into the
    repository.
    """
    folder.mkdir(parents=True, exist_ok=True)
    cam = folder / "DCIM" / "100BWC"
    cam.mkdir(parents=True, exist_ok=True)
    second = cam / "BWC0042_20261103142000_0002.MP4"
    made = [make_clip(cam / "BWC0042_20261103141500_0001.MP4", seconds, tone=440)]
    if shutil.which("espeak-ng"):
        made.append(make_spoken_clip(second))
    else:
        made.append(make_clip(second, seconds, tone=660))
    # A copy of the first clip, as when a card is offloaded twice.
    dup = folder / "backup" / "BWC0042_20261103141500_0001.MP4"
    dup.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(made[0], dup)
    made.append(dup)
    # The battery died: MP4 written without its moov atom (moov goes last without faststart).
    full = make_clip(folder / "tmp-untruncated.mp4", seconds, tone=880, faststart=False)
    data = full.read_bytes()
    truncated = cam / "BWC0042_20261103143000_0003.MP4"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    full.unlink()
    made.append(truncated)
    zero = cam / "BWC0042_20261103143500_0004.MP4"
    zero.write_bytes(b"")
    made.append(zero)
    fake = folder / "cctv" / "ch02_20261103_141000.mp4"
    fake.parent.mkdir(parents=True, exist_ok=True)
    fake.write_bytes(os.urandom(256 * 1024))
    made.append(fake)
    legacy = folder / "cctv" / "ch01_20261103_141000.mpg"
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size=352x288:rate=25:duration={seconds}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=300:duration={seconds}",
        "-c:v",
        "mpeg1video",
        "-c:a",
        "mp2",
        "-shortest",
        str(legacy),
    )
    made.append(legacy)
    grid = real_media / "av" / "grid_bbaf2n.mpg" if real_media else None
    if grid is not None and grid.exists():
        room = folder / "interview" / "room2_20261103_143000.mpg"
        room.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(grid, room)
        made.append(room)
    note = folder / "DCIM" / "GPS_LOG.TXT"
    note.write_text("$GPRMC,141500,A,3954.123,N,11623.456,E,0.0,0.0,031126,,,A*00\n")
    made.append(note)
    return made
