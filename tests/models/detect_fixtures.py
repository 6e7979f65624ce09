"""Helpers for the detection tests: real faces, clips made from them, ingest, reference.

Real faces come from ../shared/media (faces/pascal_voc photos with labelled boxes, and
the GRID talking-head clips). Moving clips are generated here with ffmpeg from those
photos (a pan across a group photo, cuts between photos) so that faces move, enter and
leave the frame and appear on frames the detector skips.
"""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from ingest.acquire import CaptureMeta, ingest
from models.vision.detect.base import Box
from storage.services import Services
from tests.needs import unavailable

REPO = Path(__file__).resolve().parents[2]
MEDIA = REPO / ".." / "shared" / "media"
FACES = MEDIA / "faces" / "pascal_voc"
GRID_CLIPS = ("grid_bbaf2n.mpg", "grid_lwbsza.mpg")

_QUIET = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


def media(*parts: str) -> Path:
    path = MEDIA.joinpath(*parts)
    if not path.exists():
        unavailable(f"shared media not present: {path}")
    return path


def labelled_faces() -> dict[str, list[Box]]:
    """file name -> labelled face boxes (x1, y1, x2, y2) from boxes.csv."""
    out: dict[str, list[Box]] = {}
    with media("faces", "pascal_voc", "boxes.csv").open() as handle:
        for row in csv.DictReader(handle):
            x, y, w, h = (float(row[k]) for k in ("x_left", "y_top", "w", "h"))
            out.setdefault(row["file"], []).append((x, y, x + w, y + h))
    return out


def ffmpeg(*args: str) -> None:
    subprocess.run([*_QUIET, *args], check=True, timeout=120)


def make_pan(path: Path, seconds: float = 4.0) -> Path:
    """480x360 window panning across a group photo: faces move, enter and leave."""
    photo = media("faces", "pascal_voc", "2007_007763.jpg")
    ffmpeg(
        "-loop", "1", "-framerate", "25", "-i", str(photo), "-t", str(seconds),
        "-vf", "scale=1000:-2,crop=480:360:x='min(t*160\\,iw-480)':y='60+20*sin(t*3)'",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def make_cuts(path: Path, size: tuple[int, int] = (640, 480)) -> Path:
    """Three photos cut together at frames 25 and 48: faces appear between detections."""
    photos = ("2008_002079.jpg", "2008_001322.jpg", "2008_001009.jpg")
    lengths = ("1.0", "0.92", "1.08")
    args: list[str] = []
    for photo, length in zip(photos, lengths, strict=True):
        args += [
            "-loop",
            "1",
            "-framerate",
            "25",
            "-t",
            length,
            "-i",
            str(media("faces", "pascal_voc", photo)),
        ]
    scaled = ";".join(f"[{i}]scale={size[0]}:{size[1]},setsar=1[v{i}]" for i in range(3))
    ffmpeg(
        *args, "-filter_complex", f"{scaled};[v0][v1][v2]concat=n=3:v=1[v]", "-map", "[v]",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def ingest_file(svc: Services, path: Path) -> str:
    receipt = ingest(svc, [path], CaptureMeta(case_no="CASE-DETECT"))
    entry = receipt.entries[0]
    assert entry.recording_id is not None, entry
    return entry.recording_id


def model_cache(factory: pytest.TempPathFactory) -> Path:
    """One folder per test session for the rewritten CenterFace graph."""
    path = factory.getbasetemp() / "detect-models"
    path.mkdir(exist_ok=True)
    return path
