"""`custos reconcile` (the real CLI) on a store that faults left out of step with the
database: an orphan original adopted, an orphan output quarantined, a corrupt orphan
kept in quarantine, a young orphan left alone, a row whose object is gone named."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

from sqlalchemy import select

from ingest.acquire import CaptureMeta, ingest
from ingest.sample_dump import make_clip
from storage.db.schema import LedgerEvent, Recording
from storage.objects.hashing import derived_key, original_key
from storage.services import Services
from tests.reliability.procs import custos, custos_env

META = CaptureMeta(case_no="R-1", collector="PC Li", location="Gate 3", proves="arrest")


def _actions(svc: Services) -> list[str]:
    with svc.db.session() as session:
        return list(session.scalars(select(LedgerEvent.action).order_by(LedgerEvent.seq)))


def test_reconcile_adopts_quarantines_and_names_missing(
    make_services: object, tmp_path: Path
) -> None:
    svc: Services = make_services(pipeline_stages=[])  # type: ignore[operator]
    dump = tmp_path / "dump"
    dump.mkdir()
    kept = make_clip(dump / "BWC0042_20261103141500_0001.MP4", seconds=1.0)
    ingest(svc, [dump], META)
    # Faults, as they leave the store: an ingest killed after publishing an original,
    # a stage killed after writing an output, a stray object whose bytes are not what
    # its address says, and an object the store lost under a recording row.
    lost_bytes = make_clip(tmp_path / "lost.mp4", seconds=1.0, tone=880).read_bytes()
    lost = svc.store.put_content_addressed(io.BytesIO(lost_bytes))
    out_key = derived_key("ab" * 32, "normalise", "cd" * 32, "poster.jpg")
    svc.store.put(out_key, io.BytesIO(b"\xff\xd8\xff half a poster"))
    fake = original_key("0" * 64)
    svc.store.put(fake, io.BytesIO(b"these bytes do not hash to zeros"), worm=True)
    gone_bytes = os.urandom(4096)
    gone = ingest(svc, [_write(tmp_path / "gone" / "note.txt", gone_bytes)], META).entries[0]
    gone_path = svc.settings.resolved_objects_dir / original_key(str(gone.sha256))
    gone_path.unlink()
    env = custos_env(svc.settings.data_dir, pipeline_stages="")

    # Young objects are never touched: their writer may still be committing.
    young = custos(env, "reconcile", "--json")
    report = json.loads(young.stdout)
    assert young.rc == 1
    assert {o["key"]: o["action"] for o in report["orphans"]} == {
        lost.key: "too-new", out_key: "too-new", fake: "too-new"}  # fmt: skip
    dry = custos(env, "reconcile", "--min-age", "0", "--dry-run", "--json")
    assert dry.rc == 1
    assert {o["action"] for o in json.loads(dry.stdout)["orphans"]} == {"listed"}
    assert svc.store.exists(out_key) and svc.store.exists(lost.key)

    run = custos(env, "reconcile", "--min-age", "0", "--json")
    report = json.loads(run.stdout)
    assert run.rc == 1, run.stderr  # a row still names a missing object
    actions = {o["key"]: o for o in report["orphans"]}
    assert actions[lost.key]["action"] == "adopted"
    assert actions[out_key]["action"] == "quarantined"
    assert actions[fake]["action"] == "quarantined-in-place"
    assert "not to its address" in actions[fake]["detail"]
    assert [(m["table"], m["key"]) for m in report["missing"]] == [
        ("recordings", original_key(str(gone.sha256)))]  # fmt: skip

    # The adopted original is a recording now, classified as acquisition would, ledgered.
    with svc.db.session() as session:
        adopted = session.scalar(
            select(Recording).where(Recording.sha256 == lost.digests["sha256"])
        )
        assert adopted is not None
        assert adopted.id == actions[lost.key]["recording_id"]
        assert (adopted.status, adopted.media_kind, adopted.incomplete) == (
            "stored", "video", True)  # fmt: skip
        assert "adopted by custos reconcile" in (adopted.reason or "")
    # Quarantined bytes are kept, exactly, and no longer served at their old key.
    assert not svc.store.exists(out_key)
    assert svc.store.get_bytes(f"quarantine/{out_key}") == b"\xff\xd8\xff half a poster"
    assert svc.store.exists(fake)  # under retention: copied, not deleted
    assert svc.store.get_bytes(f"quarantine/{fake}") == b"these bytes do not hash to zeros"
    assert {"orphan_adopted", "orphan_quarantined", "reconcile"} <= set(_actions(svc))

    # The lost object comes back from a copy: reconcile is satisfied, fixity passes.
    gone_key = original_key(str(gone.sha256))
    sha = str(gone.sha256)
    svc.store.repair(gone_key, io.BytesIO(gone_bytes), sha256=sha, size=len(gone_bytes))
    again = custos(env, "reconcile", "--min-age", "0", "--json")
    second = json.loads(again.stdout)
    assert again.rc == 0, second
    # Only the retained corrupt object is still there, still named, nothing else to do.
    assert [(o["key"], o["action"]) for o in second["orphans"]] == [
        (fake, "quarantined-in-place")]  # fmt: skip
    assert second["missing"] == []
    assert custos(env, "ledger", "verify").rc == 0
    fixity = custos(env, "fixity", "--json")
    assert fixity.rc == 0 and json.loads(fixity.stdout)["checked"] == 3
    with svc.db.session() as session:
        digests = set(session.scalars(select(Recording.sha256)))
    assert hashlib.sha256(kept.read_bytes()).hexdigest() in digests


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_reconcile_on_s3_adopts_and_quarantines(make_services: object, tmp_path: Path) -> None:
    """The same on the S3 backend (moto, object lock): an orphan original adopted, an
    orphan output moved to quarantine/, nothing half-uploaded listed."""
    from ingest.adopt import adopt_original
    from storage.reconcile import reconcile
    from tests.storage.s3_server import moto_s3_server

    with moto_s3_server() as endpoint:
        svc: Services = make_services(  # type: ignore[operator]
            object_store="s3", s3_endpoint=endpoint, s3_access_key="testing",
            s3_secret_key="testing", s3_region="us-east-1", s3_bucket="custos-reconcile",
            retention_days=1, retention_mode="GOVERNANCE", pipeline_stages=[],
        )  # fmt: skip
        clip = make_clip(tmp_path / "orphan.mp4", seconds=1.0).read_bytes()
        lost = svc.store.put_content_addressed(io.BytesIO(clip))
        out_key = derived_key("ef" * 32, "normalise", "01" * 32, "proxy.mp4")
        svc.store.put(out_key, io.BytesIO(b"part of a proxy"))
        report = reconcile(svc, adopt=adopt_original, min_age_s=0)
        actions = {o.key: o.action for o in report.orphans}
        assert actions == {lost.key: "adopted", out_key: "quarantined"}, report.to_json()
        assert report.ok and report.missing == []
        assert not svc.store.exists(out_key)
        assert svc.store.get_bytes(f"quarantine/{out_key}") == b"part of a proxy"
        again = reconcile(svc, adopt=adopt_original, min_age_s=0)
        assert again.orphans == [] and again.missing == []
        assert svc.ledger.verify().ok
