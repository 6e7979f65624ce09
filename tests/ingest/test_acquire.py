from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.acquire import CaptureMeta, Ingestor, ingest
from ingest.sample_dump import make_clip, make_sample_dump
from storage.objects.hashing import original_key
from storage.services import Services

META = CaptureMeta(case_no="C-1", collector="PC Li", location="Main St", proves="arrest")


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dump")
    make_sample_dump(folder, seconds=2.0)
    return folder


def _by_name(receipt_files: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {
        f"{Path(str(f['path'])).parent.name}/{Path(str(f['path'])).name}": f for f in receipt_files
    }


def test_sample_dump_statuses(svc: Services, dump: Path) -> None:
    receipt = ingest(svc, [dump], META)
    files = _by_name(receipt.to_json()["files"])
    assert files["100BWC/BWC0042_20261103141500_0001.MP4"]["status"] == "stored"
    assert files["backup/BWC0042_20261103141500_0001.MP4"]["status"] == "duplicate"
    assert files["100BWC/BWC0042_20261103143000_0003.MP4"]["status"] == "unplayable"
    assert "moov" in str(files["100BWC/BWC0042_20261103143000_0003.MP4"]["reason"])
    assert files["100BWC/BWC0042_20261103143500_0004.MP4"]["status"] == "unplayable"
    assert "empty" in str(files["100BWC/BWC0042_20261103143500_0004.MP4"]["reason"])
    assert files["cctv/ch02_20261103_141000.mp4"]["status"] == "unplayable"
    assert files["cctv/ch01_20261103_141000.mpg"]["status"] == "stored"
    assert files["DCIM/GPS_LOG.TXT"]["status"] == "not-media"
    good = files["100BWC/BWC0042_20261103141500_0001.MP4"]
    assert good["device_id"] == "BWC0042"
    assert good["capture_start"] == "2026-11-03T14:15:00+00:00"
    assert 1.9 < float(good["duration_s"]) < 2.2  # type: ignore[arg-type]
    assert good["incomplete"] is False
    # Every file except none is stored: one object per distinct content.
    stored = list(svc.store.list("originals/"))
    distinct = {f["sha256"] for f in files.values()}
    assert len(stored) == len(distinct) == len(files) - 1
    for f in files.values():
        assert svc.store.exists(original_key(str(f["sha256"])))
    assert svc.ledger.verify().ok
    assert (svc.settings.data_dir / "receipts" / f"receipt-{receipt.run_id}.csv").exists()


def test_digests_match_sha256sum_and_sm3(make_services: object, dump: Path) -> None:
    svc: Services = make_services(digests="sha256,sm3")  # type: ignore[operator]
    clip = dump / "DCIM" / "100BWC" / "BWC0042_20261103142000_0002.MP4"
    entry = ingest(svc, [clip], META).entries[0]
    expected = subprocess.run(
        ["sha256sum", str(clip)], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    assert entry.sha256 == expected
    import hashlib

    assert entry.sm3 == hashlib.new("sm3", clip.read_bytes()).hexdigest()


def test_missing_capture_metadata_marks_incomplete_without_blocking(
    svc: Services, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "no_name_pattern.mp4", seconds=1.0)
    entry = ingest(svc, [clip], CaptureMeta(case_no="C-9")).entries[0]
    assert entry.status == "stored"
    assert entry.incomplete is True
    assert set(entry.missing) == {"capture_time", "location", "collector", "proves"}


def test_container_creation_time_used_when_name_has_none(svc: Services, tmp_path: Path) -> None:
    clip = make_clip(
        tmp_path / "clip.mp4", seconds=1.0, creation_time="2026-10-01T08:30:00.000000Z"
    )
    entry = ingest(svc, [clip], META).entries[0]
    assert entry.capture_start == "2026-10-01T08:30:00+00:00"


def test_file_vanishing_before_read_is_unreadable(svc: Services, tmp_path: Path) -> None:
    receipt_entry = Ingestor(svc, META).acquire(tmp_path / "gone.mp4")
    assert receipt_entry.status == "unreadable"
    assert "cannot stat" in (receipt_entry.reason or "")


def test_file_growing_during_read_is_flagged(svc_sqlite: Services, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "growing.mp4", seconds=1.0)
    ingestor = Ingestor(svc_sqlite, META)
    grown = False

    def append_once(n: int) -> None:
        nonlocal grown
        if not grown:
            grown = True
            with clip.open("ab") as out:
                out.write(b"\0" * 1024)

    ingestor.cb.on_bytes = append_once
    entry = ingestor.acquire(clip)
    assert entry.status == "changed-during-read"
    assert entry.sha256 is not None


def test_rerun_resumes_without_reading_or_storing_twice(svc: Services, dump: Path) -> None:
    first = ingest(svc, [dump], META)
    events = svc.ledger.count()
    second = ingest(svc, [dump], META)
    assert [(e.path, e.status, e.recording_id, e.sha256) for e in first.entries] == [
        (e.path, e.status, e.recording_id, e.sha256) for e in second.entries
    ]
    assert all(e.resumed for e in second.entries)
    assert svc.ledger.count() == events + 1  # only the second run's summary event


def test_orphan_object_from_a_crash_is_adopted(svc: Services, tmp_path: Path) -> None:
    """Killed after publishing the object, before the database row: the rerun records it."""
    clip = make_clip(tmp_path / "BWC0042_20261103141500_0009.MP4", seconds=1.0)
    with clip.open("rb") as handle:
        svc.store.put_content_addressed(handle)
    entry = ingest(svc, [clip], META).entries[0]
    assert entry.status == "stored"


def test_missing_path_is_a_clear_error(svc_sqlite: Services, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        ingest(svc_sqlite, [tmp_path / "nope"], META)


@pytest.mark.slow
def test_kill_9_mid_ingest_then_rerun_matches_a_clean_run(tmp_path: Path) -> None:
    src = tmp_path / "big"
    src.mkdir()
    for i in range(8):  # ~8 x 48 MiB of incompressible data in valid-looking files
        with (src / f"BWC0042_2026110314{i:02d}00_{i:04d}.MP4").open("wb") as out:
            out.write(os.urandom(48 * 1024 * 1024))
    env = {**os.environ, "CUSTOS_DATA_DIR": str(tmp_path / "data")}
    env.pop("CUSTOS_DATABASE_URL", None)
    cmd = [
        sys.executable,
        "-m",
        "api",
        "ingest",
        str(src),
        "--case",
        "C-1",
        "--json",
        "--no-process",
    ]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    originals = tmp_path / "data" / "objects" / "originals"
    deadline = time.monotonic() + 120
    # Kill once the first object is published, i.e. in the middle of the run.
    while time.monotonic() < deadline and proc.poll() is None:
        if originals.exists() and any(p.is_file() for p in originals.rglob("*")):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "ingest finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=True)
    resumed = json.loads(rerun.stdout)
    clean_env = {**env, "CUSTOS_DATA_DIR": str(tmp_path / "clean")}
    clean = json.loads(
        subprocess.run(
            cmd, env=clean_env, capture_output=True, text=True, timeout=600, check=True
        ).stdout
    )
    key = [(f["path"], f["status"], f["sha256"], f["size"]) for f in clean["files"]]
    assert [(f["path"], f["status"], f["sha256"], f["size"]) for f in resumed["files"]] == key
    objects = list((tmp_path / "data" / "objects" / "originals").rglob("*"))
    assert len([p for p in objects if p.is_file()]) == 8
    assert not list((tmp_path / "data" / "objects" / "tmp").iterdir())
    verify = subprocess.run(
        [sys.executable, "-m", "api", "ledger", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 0, verify.stderr
