"""Recorder file names: device id and start time of the common name forms."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.filenames import load_patterns, parse_name

CASES: list[tuple[str, str | None, datetime | None]] = [
    # body-worn cameras, DEVICE_YYYYMMDD_HHMMSS and GA/T 947 style DEVICE_YYYYMMDDHHMMSS_n
    ("BWC001_20260301_090001.mp4", "BWC001", datetime(2026, 3, 1, 9, 0, 1)),
    ("DSJ-01_20261103141800_0001.mpg", "DSJ-01", datetime(2026, 11, 3, 14, 18)),
    ("BWC0042_20261103141500_0003.MP4", "BWC0042", datetime(2026, 11, 3, 14, 15)),
    ("BWC0042_20261103141500_0001_IMP.MP4", "BWC0042", datetime(2026, 11, 3, 14, 15)),
    ("DSJ01-20261103-141800.mp4", "DSJ01", datetime(2026, 11, 3, 14, 18)),
    ("DSJ0001_012345_20261103141800_0001.mp4", "DSJ0001", datetime(2026, 11, 3, 14, 18)),
    ("HIK20261103141800.mp4", "HIK", datetime(2026, 11, 3, 14, 18)),
    # timestamp first, device after it
    ("20261103141800_DSJ01.mp4", "DSJ01", datetime(2026, 11, 3, 14, 18)),
    ("20261103_141800_DSJ-01.mp4", "DSJ-01", datetime(2026, 11, 3, 14, 18)),
    ("20261103141800_0001.mp4", None, datetime(2026, 11, 3, 14, 18)),
    # CCTV exports with channel prefixes
    ("IPC_ch02_20261103-141800.mp4", "IPC_ch02", datetime(2026, 11, 3, 14, 18)),
    ("ch01_20261103_141000.mpg", "ch01", datetime(2026, 11, 3, 14, 10)),
    ("CH03-20240312-081500.mp4", "CH03", datetime(2024, 3, 12, 8, 15)),
    ("ch05_20261103141800.mp4", "ch05", datetime(2026, 11, 3, 14, 18)),
    (
        "NVR1_ch05_20261103141800_20261103143000.mp4",
        "NVR1_ch05",
        datetime(2026, 11, 3, 14, 18),
    ),
    ("2024-03-12.08.15.00-2024-03-12.08.30.00[M][0@0][0].dav", None, datetime(2024, 3, 12, 8, 15)),
    ("192.168.1.64_01_20261103141800123.mp4", "192.168.1.64_01", datetime(2026, 11, 3, 14, 18)),
    # phones and generic names: a media prefix is not a device
    ("VID_20261103_141800.mp4", None, datetime(2026, 11, 3, 14, 18)),
    ("PXL_20240312_081500123.mp4", None, datetime(2024, 3, 12, 8, 15)),
    ("REC20240312081500.wav", None, datetime(2024, 3, 12, 8, 15)),
    ("20240312_081500.mp4", None, datetime(2024, 3, 12, 8, 15)),
    ("2024-03-12 08.15.00.mp4", None, datetime(2024, 3, 12, 8, 15)),
    ("Screen Recording 2024-03-12 at 08.15.00.mov", None, datetime(2024, 3, 12, 8, 15)),
    # Axon style
    (
        "Axon_Body_3_Video_2024-03-12_0815_X60012345.mp4",
        "X60012345",
        datetime(2024, 3, 12, 8, 15),
    ),
    # no time in the name: nothing is guessed
    ("IMG_1234.MOV", None, None),
    ("DSJ-01_0001.mp4", None, None),
    ("BWC0042_20261399141500_0001.MP4", None, None),  # month 13
    ("clip.mp4", None, None),
]


@pytest.mark.parametrize(("name", "device", "start"), CASES, ids=[c[0] for c in CASES])
def test_recorder_name_forms(name: str, device: str | None, start: datetime | None) -> None:
    info = parse_name(name)
    assert (info.device_id, info.start) == (device, start)


def test_gat947_name_keeps_the_officer_number() -> None:
    info = parse_name("DSJ0001_012345_20261103141800_0001.mp4")
    assert info.officer == "012345"
    assert parse_name("BWC001_20260301_090001.mp4").officer is None


def test_offset_in_the_name_gives_an_aware_utc_time() -> None:
    info = parse_name("DSJ01_20261103T141800+0800_0001.mp4")
    assert info.device_id == "DSJ01"
    assert info.start is not None and info.start.isoformat() == "2026-11-03T14:18:00+08:00"
    assert info.start.astimezone(UTC) == datetime(2026, 11, 3, 6, 18, tzinfo=UTC)


def test_agency_patterns_come_first(tmp_path: Path) -> None:
    extra = tmp_path / "patterns.yaml"
    extra.write_text(r"- '^unit(?P<device>\d+)-(?P<date>\d{8})(?P<time>\d{6})$'" + "\n")
    patterns = load_patterns(extra)
    info = parse_name("unit7-20261103141800.mp4", patterns)
    assert (info.device_id, info.start) == ("7", datetime(2026, 11, 3, 14, 18))
    # names the agency pattern does not match still get the built-in forms
    assert parse_name("DSJ-01_20261103141800_0001.mpg", patterns).device_id == "DSJ-01"


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="ab_-. 0123456789TZ+:", max_size=40),
    st.sampled_from(["", "20261103141800", "20261103_141800", "2026-11-03 14.18.00"]),
    st.text(alphabet="ab_-. 0123456789", max_size=12),
)
def test_any_name_parses_without_error(head: str, stamp: str, tail: str) -> None:
    info = parse_name(head + stamp + tail + ".mp4")
    if info.start is not None:
        assert 1990 <= info.start.year <= 2100
    if info.device_id is not None:
        assert info.device_id.strip() == info.device_id and " " not in info.device_id
        assert not info.device_id.isdigit() or len(info.device_id) >= 5
