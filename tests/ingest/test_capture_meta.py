"""Capture metadata through a real ingest: device and start time from recorder names
(never from an encoder's tag), read in the zone the recorder's clock was in, and that
zone written on every recording and on the receipt."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from cases.links import suggest
from ingest.acquire import CaptureMeta, ingest
from ingest.probe import device_tags_of, is_encoder_tag, probe
from ingest.sample_dump import make_clip
from storage.db.schema import Recording
from storage.services import Services
from tests.cases.case_factory import add_case, add_step, checklist

META = CaptureMeta(case_no="C-1", collector="PC Li", location="Main St", proves="arrest")
Factory = Callable[..., Services]


def _mpeg_ps(path: Path, seconds: float = 1.0) -> Path:
    """An MPEG-1 program stream, as older body-worn cameras write."""
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc=size=176x144:rate=25:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=300:duration={seconds}",
            "-c:v", "mpeg1video", "-c:a", "mp2", "-shortest", str(path),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    return path


# -- item 9: the device is never an encoder ------------------------------------------


def test_ffmpeg_made_body_cam_clip_gets_its_name_not_the_muxer(
    svc_sqlite: Services, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "BWC001_20260301_090001.mp4", seconds=1.0)
    assert probe(clip).tags.get("encoder", "").startswith("Lavf")  # what misled ingest
    entry = ingest(svc_sqlite, [clip], META).entries[0]
    assert entry.device_id == "BWC001"
    assert entry.capture_start == "2026-03-01T09:00:01+00:00"  # tests run with zone UTC


def test_an_encoder_tag_alone_gives_no_device(svc_sqlite: Services, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0)
    result = probe(clip)
    assert result.device_tags == {} and result.device_id is None
    assert ingest(svc_sqlite, [clip], META).entries[0].device_id is None


@pytest.mark.parametrize(
    "value",
    ["Lavf59.27.100", "Lavc60.3.100 libx264", "HandBrake 1.6.1 2023012300", "x264", "GPAC-2.2"],
)
def test_encoder_names_are_recognised(value: str) -> None:
    assert is_encoder_tag(value)
    assert device_tags_of({"encoder": value, "model": value, "stream0.encoder": value}) == {}


def test_device_tags_most_specific_first() -> None:
    tags = {
        "encoder": "Lavf59.27.100",
        "make": "Apple",
        "com.apple.quicktime.model": "iPhone 12",
        "stream0.serial": "SN-778",
    }
    assert list(device_tags_of(tags).values()) == ["SN-778", "iPhone 12", "Apple"]
    assert not is_encoder_tag("DSJ-01") and not is_encoder_tag("iPhone 12")


def test_gat947_mpeg_clip_gets_device_and_time_and_is_suggested(
    svc_sqlite: Services, tmp_path: Path
) -> None:
    clip = _mpeg_ps(tmp_path / "DSJ-01_20261103141800_0001.mpg")
    entry = ingest(svc_sqlite, [clip], CaptureMeta()).entries[0]
    assert (entry.status, entry.device_id) == ("stored", "DSJ-01")
    assert entry.capture_start == "2026-11-03T14:18:00+00:00"
    rules = checklist()
    with svc_sqlite.db.session() as s:
        case = add_case(s, "C-DSJ")
        step = add_step(
            s,
            case,
            "S1",
            "seizure",
            datetime(2026, 11, 3, 14, 0, tzinfo=UTC),
            datetime(2026, 11, 3, 14, 30, tzinfo=UTC),
            devices=["DSJ-01"],
        )
        made = suggest(s, case, rules, actor="clerk")
        assert [(m.recording_id, m.step_id) for m in made] == [(entry.recording_id, step.id)]
        assert made[0].basis["device"] is True


# -- item 11: the zone of the recorder's clock ------------------------------------------


def test_machine_zone_is_the_default_and_is_recorded(
    make_services: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    svc = make_services(local_timezone=None)
    assert svc.settings.local_timezone is None
    clip = make_clip(tmp_path / "BWC0042_20261103141500_0003.MP4", seconds=1.0)
    receipt = ingest(svc, [clip], META)
    entry = receipt.entries[0]
    # 14:15 on a Shanghai recorder's clock is 06:15 UTC, not 14:15 UTC.
    assert entry.capture_start == "2026-11-03T06:15:00+00:00"
    assert entry.zone == "Asia/Shanghai (assumed: machine zone)"
    with svc.db.session() as s:
        rec = s.scalars(select(Recording)).one()
        assert (rec.capture_zone, rec.capture_zone_basis) == ("Asia/Shanghai", "machine")
    saved = json.loads(
        (svc.settings.data_dir / "receipts" / f"receipt-{receipt.run_id}.json").read_text()
    )
    assert saved["files"][0]["zone"] == "Asia/Shanghai (assumed: machine zone)"
    csv_text = (svc.settings.data_dir / "receipts" / f"receipt-{receipt.run_id}.csv").read_text()
    assert "zone" in csv_text.splitlines()[0].split(",")
    assert "Asia/Shanghai (assumed: machine zone)" in csv_text


def test_setting_overrides_machine_zone(
    make_services: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    svc = make_services(local_timezone="Asia/Shanghai")
    clip = make_clip(tmp_path / "BWC0042_20261103141500_0003.MP4", seconds=1.0)
    entry = ingest(svc, [clip], META).entries[0]
    assert entry.capture_start == "2026-11-03T06:15:00+00:00"
    assert entry.zone == "Asia/Shanghai (assumed: CUSTOS_LOCAL_TIMEZONE)"


def test_offset_in_name_and_container_tag_are_not_assumptions(
    svc_sqlite: Services, tmp_path: Path
) -> None:
    named = make_clip(tmp_path / "DSJ01_20261103T141800+0800_0001.mp4", seconds=1.0, tone=500)
    tagged = make_clip(
        tmp_path / "clip.mp4", seconds=1.0, creation_time="2026-10-01T08:30:00.000000Z"
    )
    entries = {Path(e.path).name: e for e in ingest(svc_sqlite, [named, tagged], META).entries}
    first = entries[named.name]
    assert (first.capture_start, first.zone) == (
        "2026-11-03T06:18:00+00:00",
        "+08:00 (recorded with the time)",
    )
    second = entries["clip.mp4"]
    assert (second.capture_start, second.zone) == (
        "2026-10-01T08:30:00+00:00",
        "UTC (recorded with the time)",
    )


def test_no_capture_time_no_zone(svc_sqlite: Services, tmp_path: Path) -> None:
    entry = ingest(svc_sqlite, [make_clip(tmp_path / "clip.mp4", seconds=1.0)], META).entries[0]
    assert (entry.capture_start, entry.zone) == (None, None)
