from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ingest.acquire import CaptureMeta, Ingestor, ingest
from ingest.fixity import fixity
from ingest.sample_dump import make_clip, make_sample_dump
from storage.db.schema import LedgerEvent, Recording, Sighting
from storage.errors import StoredObjectMismatch
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


def test_rerun_resumes_without_storing_twice_and_sights_every_file(
    svc: Services, dump: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ingest(svc, [dump], META)
    events = svc.ledger.count()
    stored: list[object] = []
    real_put = svc.store.put_content_addressed
    monkeypatch.setattr(
        svc.store, "put_content_addressed", lambda *a, **k: stored.append(a) or real_put(*a, **k)
    )
    second = ingest(svc, [dump], META)
    assert [(e.path, e.status, e.recording_id, e.sha256) for e in first.entries] == [
        (e.path, e.status, e.recording_id, e.sha256) for e in second.entries
    ]
    assert all(e.resumed for e in second.entries)
    assert stored == []  # hashed again, not stored again
    # Each file is sighted in this run too: a sighting row and a ledger event per file.
    with svc.db.session() as session:
        sightings = session.scalars(select(Sighting).where(Sighting.run_id == second.run_id)).all()
        resumed_events = session.scalars(
            select(LedgerEvent).where(LedgerEvent.action == "resumed_sighting")
        ).all()
    assert sorted(s.source_path for s in sightings) == sorted(e.path for e in second.entries)
    assert len(resumed_events) == len(second.entries)
    assert all(second.run_id in e.details for e in resumed_events)
    assert svc.ledger.count() == events + len(second.entries) + 1  # and the run's summary


def test_swapped_card_with_the_same_names_sizes_and_times_is_read(
    svc: Services, tmp_path: Path
) -> None:
    """Resume trusts a digest, never path + size + mtime alone."""
    card = tmp_path / "card"
    card.mkdir()
    clip = make_clip(card / "BWC0042_20261103141500_0001.MP4", seconds=1.0, tone=500)
    first = ingest(svc, [card], META).entries[0]
    st = clip.stat()
    other = make_clip(tmp_path / "other.MP4", seconds=1.0, tone=700)
    body = other.read_bytes()
    # Same length as the first card's file, then the same modification time.
    body = (body + b"\0" * st.st_size)[: st.st_size]
    clip.write_bytes(body)
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (clip.stat().st_size, clip.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    second = ingest(svc, [card], META).entries[0]
    assert not second.resumed
    assert second.sha256 == hashlib.sha256(body).hexdigest() != first.sha256
    assert second.recording_id != first.recording_id
    assert svc.store.get_bytes(original_key(str(second.sha256))) == body


def _stored_path(svc: Services, sha256: str) -> Path:
    local = svc.store.local_file(original_key(sha256))
    assert local is not None
    return local


def test_duplicate_repairs_a_rotten_stored_copy(svc: Services, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    clip = make_clip(tmp_path / "a" / "BWC0042_20261103141500_0001.MP4", seconds=1.0)
    first = ingest(svc, [clip], META).entries[0]
    sha = str(first.sha256)
    stored = _stored_path(svc, sha)
    stored.chmod(0o644)
    with stored.open("r+b") as handle:  # bit rot in the stored original
        handle.seek(2000)
        handle.write(b"\xff\xfe")
    assert fixity(svc).failures
    copy = tmp_path / "b" / clip.name
    copy.parent.mkdir()
    shutil.copyfile(clip, copy)
    entry = ingest(svc, [copy], META).entries[0]
    assert entry.status == "duplicate" and entry.recording_id == first.recording_id
    assert "repaired" in str(entry.reason)
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha
    assert oct(stored.stat().st_mode & 0o777) == "0o444"
    assert not fixity(svc).failures
    with svc.db.session() as session:
        actions = [
            (e.action, e.details)
            for e in session.scalars(
                select(LedgerEvent)
                .where(LedgerEvent.subject == first.recording_id)
                .order_by(LedgerEvent.seq)
            )
        ]
    repaired = [d for a, d in actions if a == "original_repaired"]
    assert len(repaired) == 1 and str(copy) in repaired[0] and "sha256" in repaired[0]
    # The damage was ledgered before the object was rewritten.
    found = [i for i, (a, d) in enumerate(actions) if a == "fixity_check" and "duplicate" in d]
    assert len(found) == 1 and found[0] < [a for a, _ in actions].index("original_repaired")
    assert svc.ledger.verify().ok


def test_duplicate_restores_a_missing_stored_copy(svc_sqlite: Services, tmp_path: Path) -> None:
    svc = svc_sqlite
    (tmp_path / "a").mkdir()
    clip = make_clip(tmp_path / "a" / "BWC0042_20261103141500_0001.MP4", seconds=1.0)
    first = ingest(svc, [clip], META).entries[0]
    _stored_path(svc, str(first.sha256)).unlink()
    copy = tmp_path / "b" / clip.name
    copy.parent.mkdir()
    shutil.copyfile(clip, copy)
    entry = ingest(svc, [copy], META).entries[0]
    assert entry.status == "duplicate" and "missing" in str(entry.reason)
    assert not fixity(svc).failures
    with svc.db.session() as session:
        count = session.scalar(
            select(func.count())
            .select_from(LedgerEvent)
            .where(LedgerEvent.action == "original_repaired")
        )
    assert count == 1


def test_healthy_duplicate_is_checked_not_rewritten(svc_sqlite: Services, dump: Path) -> None:
    svc = svc_sqlite
    receipt = ingest(svc, [dump], META)
    dup = next(e for e in receipt.entries if e.status == "duplicate")
    assert "repaired" not in str(dup.reason)
    with svc.db.session() as session:
        sighted = session.scalars(
            select(LedgerEvent).where(LedgerEvent.action == "duplicate_sighting")
        ).all()
        repairs = session.scalars(
            select(LedgerEvent).where(LedgerEvent.action.startswith("original_repair"))
        ).all()
    assert len(sighted) == 1 and '"stored_copy_ok":true' in sighted[0].details
    assert repairs == []


GBK_NAME = b"\xd6\xb4\xb7\xa8_DSJ01_20261103141800_0001.mpg"  # "执法_DSJ01_..." in GBK


def test_non_utf8_file_names_are_kept_and_shown(svc: Services, tmp_path: Path) -> None:
    """A GBK name from a Windows card, and one no encoding decodes, do not stop the dump."""
    card = tmp_path / "card"
    card.mkdir()
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0, tone=610)
    odd = make_clip(tmp_path / "odd.mp4", seconds=1.0, tone=620)
    gbk = os.fsencode(card) + b"/" + GBK_NAME
    undecodable = os.fsencode(card) + b"/\xff\xfe_0002.mp4"
    shutil.copyfile(clip, os.fsdecode(gbk))
    shutil.copyfile(odd, os.fsdecode(undecodable))
    make_clip(card / "BWC0042_20261103141500_0003.MP4", seconds=1.0, tone=630)
    receipt = ingest(svc, [card], META)
    assert receipt.ok and [e.status for e in receipt.entries].count("stored") == 3
    by_hex = {e.raw_path_hex: e for e in receipt.entries}
    shown = by_hex[gbk.hex()]
    assert shown.path == f"{card}/执法_DSJ01_20261103141800_0001.mpg"
    assert by_hex[undecodable.hex()].path == f"{card}/\\xff\\xfe_0002.mp4"
    assert by_hex[None].path.endswith("BWC0042_20261103141500_0003.MP4")
    with svc.db.session() as session:
        rec = session.get(Recording, shown.recording_id)
        acquired = session.scalars(
            select(LedgerEvent).where(
                LedgerEvent.action == "acquired", LedgerEvent.subject == shown.recording_id
            )
        ).one()
    assert rec is not None and rec.original_name == "执法_DSJ01_20261103141800_0001.mpg"
    assert gbk.hex() in acquired.details
    receipt_json = svc.settings.data_dir / "receipts" / f"receipt-{receipt.run_id}.json"
    assert "执法_DSJ01" in receipt_json.read_text(encoding="utf-8")
    assert svc.ledger.verify().ok
    again = ingest(svc, [card], META)  # and a rerun resumes them like any other name
    assert all(e.resumed for e in again.entries)


def test_a_file_the_store_refuses_is_reported_and_the_dump_goes_on(
    svc_sqlite: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = svc_sqlite
    card = tmp_path / "card"
    card.mkdir()
    for i in range(2):
        make_clip(card / f"BWC0042_2026110314{i}000_000{i}.MP4", seconds=1.0, tone=400 + i)
    real_put = svc.store.put_content_addressed

    def refuse_first(stream: object, **kwargs: object) -> object:
        # By file, not by call: ingest reads ahead on two threads, so either file may be
        # put first.
        if str(getattr(stream, "name", "")).endswith("_0000.MP4"):
            raise StoredObjectMismatch("stored object: the store holds 10 bytes, 20 were read")
        return real_put(stream, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(svc.store, "put_content_addressed", refuse_first)
    receipt = ingest(svc, [card], META)
    assert [e.status for e in receipt.entries] == ["unreadable", "stored"]
    assert "not stored" in str(receipt.entries[0].reason)
    assert not receipt.ok


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
