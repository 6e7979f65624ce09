"""Retention: what is due, legal hold, approved and ledgered disposal through the store."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cases.errors import ConfigFileError, DisposalRefused
from cases.links import link_manual
from cases.retention import (
    Period,
    assess_all,
    dispose,
    due,
    finish_disposals,
    parse_policy,
    set_hold,
)
from cases.tables import Disposal, Link
from storage.db.schema import Derivative, LedgerEvent, Recording
from storage.services import Services
from tests.cases.case_factory import add_case, add_recording, add_step, checklist

RULES = checklist()
POLICY = parse_policy(
    {
        "default_category": "routine",
        "case_category": "evidence",
        "categories": {
            "routine": {"days": 30},
            "evidence": {"days": 365},
            "major": {"permanent": True},
        },
    }
)
# Far enough ahead that objects stored during a slow run (retention 0: retained until the
# moment they were stored) are past their retention at NOW.
NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=6)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def svc0(database_url: str, make_services: object) -> Services:
    """Services whose object store sets no WORM retention, so due originals can go."""
    return make_services(database_url=database_url, retention_days=0)  # type: ignore[operator,no-any-return]


def _scene(svc: Services) -> dict[str, str]:
    """Recordings in every retention situation; returns name -> recording id."""
    ids: dict[str, str] = {}
    with svc.db.session() as s:
        open_case = add_case(s, "OPEN-1", opened=ago(400))
        open_step = add_step(s, open_case, "S1", "seizure", ago(399), ago(399) + timedelta(hours=1))
        old_closed = add_case(s, "CLOSED-1", opened=ago(800), closed=ago(400))
        old_step = add_step(s, old_closed, "S1", "seizure", ago(790), ago(790) + timedelta(hours=1))
        new_closed = add_case(s, "CLOSED-2", opened=ago(500), closed=ago(100))
        new_step = add_step(s, new_closed, "S1", "hearing", ago(490), ago(490) + timedelta(hours=1))

        def rec(name: str, days: float, **kw: object) -> Recording:
            r = add_recording(s, start=ago(days), seconds=60, store=svc.store, name=name, **kw)  # type: ignore[arg-type]
            ids[name] = r.id
            return r

        rec("routine-old", 40)
        rec("routine-new", 10)
        held = rec("routine-held", 40)
        rec("tagged-open", 40, case_no="OPEN-1")
        evidence_due = rec("evidence-closed-long-ago", 790)
        link_manual(
            s, evidence_due, old_step, start=None, end=None, proves="p", actor="a", checklist=RULES
        )
        evidence_running = rec("evidence-closed-recently", 490)
        link_manual(
            s,
            evidence_running,
            new_step,
            start=None,
            end=None,
            proves="p",
            actor="a",
            checklist=RULES,
        )
        rec("tagged-unknown-case", 40, case_no="NOPE-9")
        major = rec("major", 4000)
        major.retention_category = "major"
        suggested = rec("suggested-to-open", 40)
        rejected = rec("rejected-to-open", 40)
        for r, status in ((suggested, "suggested"), (rejected, "rejected")):
            s.add(
                Link(
                    recording_id=r.id,
                    step_id=open_step.id,
                    status=status,
                    basis={},
                    created_at=NOW,
                    created_by="custos",
                )
            )
        set_hold(s, svc.store, svc.ledger, held, on=True, actor="legal", reason="litigation")
    return ids


def test_due_excludes_held_open_case_running_and_permanent(svc0: Services) -> None:
    ids = _scene(svc0)
    with svc0.db.session() as s:
        states = {a.name: a.state for a in assess_all(s, POLICY, NOW)}
        listed = {a.name for a in due(s, POLICY, NOW)}
    assert states == {
        "routine-old": "due",
        "routine-new": "running",
        "routine-held": "held",
        "tagged-open": "open_case",
        "evidence-closed-long-ago": "due",
        "evidence-closed-recently": "running",
        "tagged-unknown-case": "open_case",
        "major": "permanent",
        "suggested-to-open": "open_case",
        "rejected-to-open": "due",
    }
    assert listed == {"routine-old", "evidence-closed-long-ago", "rejected-to-open"}
    assert len(ids) == len(states)


def test_disposal_needs_second_person_and_deletes_through_the_store(svc0: Services) -> None:
    ids = _scene(svc0)
    store = svc0.store
    with svc0.db.session() as s:
        rec = s.get(Recording, ids["evidence-closed-long-ago"])
        assert rec is not None
        derived = store.put(f"derived/{rec.sha256}/proxy.mp4", io.BytesIO(b"proxy"))
        s.add(
            Derivative(
                recording_id=rec.id,
                kind="proxy",
                object_key=derived.key,
                sha256="0" * 64,
                size=5,
                source_sha256=rec.sha256,
                created_at=NOW,
            )
        )
    refusals = [
        (ids["routine-old"], "clerk", "clerk", "expired", "second person"),
        (ids["routine-old"], "clerk", "", "expired", "second person"),
        (ids["routine-old"], "clerk", "chief", " ", "reason"),
        (ids["routine-new"], "clerk", "chief", "expired", "not due"),
        (ids["routine-held"], "clerk", "chief", "expired", "legal hold"),
        (ids["tagged-open"], "clerk", "chief", "expired", "open case OPEN-1"),
    ]
    for rec_id, actor, approver, reason, message in refusals:
        with pytest.raises(DisposalRefused, match=message), svc0.db.session() as s:
            target = s.get(Recording, rec_id)
            assert target is not None
            dispose(
                s,
                store,
                svc0.ledger,
                target,
                POLICY,
                actor=actor,
                approved_by=approver,
                reason=reason,
                now=NOW,
            )

    with svc0.db.session() as s:
        rec = s.get(Recording, ids["evidence-closed-long-ago"])
        assert rec is not None
        key = rec.object_key
        assert store.exists(key)
        done = dispose(
            s,
            store,
            svc0.ledger,
            rec,
            POLICY,
            actor="clerk",
            approved_by="chief",
            reason="retention period ended",
            now=NOW,
        )
        # Nothing is deleted inside the deciding transaction.
        assert store.exists(key) and done.state == "pending"
    (outcome,) = finish_disposals(svc0.db, store, svc0.ledger, actor="clerk")
    assert outcome.state == "done" and outcome.deleted == [derived.key, key]
    assert not store.exists(key) and not store.exists(derived.key)
    assert finish_disposals(svc0.db, store, svc0.ledger, actor="clerk") == []
    with svc0.db.session() as s:
        rec = s.get(Recording, ids["evidence-closed-long-ago"])
        assert rec is not None and rec.disposed_at is not None
        row = s.scalar(select(Disposal))
        event = s.scalar(select(LedgerEvent).where(LedgerEvent.action == "recording.disposed"))
        assert row is not None and event is not None
        assert sorted(row.deleted_keys) == sorted([key, derived.key]) and row.state == "done"
        assert (row.requested_by, row.approved_by, row.category) == ("clerk", "chief", "evidence")
        assert row.ledger_seq == event.seq and event.subject == rec.id
        assert json.loads(event.details)["approved_by"] == "chief"
        assert {a.name for a in due(s, POLICY, NOW)} == {"routine-old", "rejected-to-open"}
        with pytest.raises(DisposalRefused, match="not due"):
            dispose(
                s,
                store,
                svc0.ledger,
                rec,
                POLICY,
                actor="clerk",
                approved_by="chief",
                reason="again",
                now=NOW,
            )
    assert svc0.ledger.verify().ok


def test_hold_set_and_lift_reach_store_and_database(svc0: Services) -> None:
    with svc0.db.session() as s:
        rec = add_recording(s, start=ago(40), seconds=60, store=svc0.store)
        set_hold(s, svc0.store, svc0.ledger, rec, on=True, actor="legal", reason="appeal")
    stat = svc0.store.stat(rec.object_key)
    assert stat is not None and stat.legal_hold
    with svc0.db.session() as s:
        assert [a.state for a in assess_all(s, POLICY, NOW)] == ["held"]
        again = s.get(Recording, rec.id)
        assert again is not None and again.legal_hold
        set_hold(s, svc0.store, svc0.ledger, again, on=False, actor="legal", reason="closed")
    stat = svc0.store.stat(rec.object_key)
    assert stat is not None and not stat.legal_hold
    with svc0.db.session() as s:
        assert [a.state for a in assess_all(s, POLICY, NOW)] == ["due"]
        # A hold placed directly in the store still blocks disposal.
        svc0.store.set_legal_hold(rec.object_key, True)
        target = s.get(Recording, rec.id)
        assert target is not None
        with pytest.raises(DisposalRefused, match="legal hold in the object store"):
            dispose(
                s,
                svc0.store,
                svc0.ledger,
                target,
                POLICY,
                actor="a",
                approved_by="b",
                reason="r",
                now=NOW,
            )
    actions = [e.action for e in svc0.ledger.events(rec.id)]
    assert actions == ["recording.legal_hold.set", "recording.legal_hold.lifted"]


def test_worm_retention_in_the_store_blocks_disposal(make_services: object) -> None:
    svc = make_services(retention_days=3650)  # type: ignore[operator]
    with svc.db.session() as s:
        rec = add_recording(s, start=ago(40), seconds=60, store=svc.store)
    with pytest.raises(DisposalRefused, match="retains"), svc.db.session() as s:
        target = s.get(Recording, rec.id)
        assert target is not None
        dispose(
            s,
            svc.store,
            svc.ledger,
            target,
            POLICY,
            actor="a",
            approved_by="b",
            reason="r",
            now=NOW,
        )
    assert svc.store.exists(rec.object_key)
    with svc.db.session() as s:
        again = s.get(Recording, rec.id)
        assert again is not None and again.disposed_at is None
        assert s.scalar(select(Disposal)) is None
    assert svc.ledger.events(rec.id) == []


def test_periods_use_calendar_months_and_years() -> None:
    start = datetime(2024, 1, 31, 12, 0, tzinfo=UTC)
    assert Period(months=1).after(start) == datetime(2024, 2, 29, 12, 0, tzinfo=UTC)
    assert Period(years=1).after(datetime(2024, 2, 29, tzinfo=UTC)) == datetime(
        2025, 2, 28, tzinfo=UTC
    )
    assert Period(months=6, days=1).after(start) == datetime(2024, 8, 1, 12, 0, tzinfo=UTC)
    assert Period(permanent=True).after(start) is None
    with pytest.raises(ConfigFileError, match="not defined"):
        parse_policy({"default_category": "x", "categories": {"y": {"days": 1}}})
    with pytest.raises(ConfigFileError, match="has no period"):
        parse_policy({"default_category": "y", "categories": {"y": {}}})


def _dispose(svc: Services, rec_id: str) -> None:
    with svc.db.session() as s:
        target = s.get(Recording, rec_id)
        assert target is not None
        dispose(s, svc.store, svc.ledger, target, POLICY, actor="clerk", approved_by="chief",
                reason="expired", now=NOW)  # fmt: skip


def test_a_disposal_that_fails_to_commit_deletes_nothing(svc0: Services) -> None:
    with svc0.db.session() as s:
        rec = add_recording(s, start=ago(40), seconds=60, store=svc0.store)
    with pytest.raises(RuntimeError, match="commit refused"), svc0.db.session() as s:
        target = s.get(Recording, rec.id)
        assert target is not None
        dispose(s, svc0.store, svc0.ledger, target, POLICY, actor="clerk", approved_by="chief",
                reason="expired", now=NOW)  # fmt: skip
        raise RuntimeError("commit refused")  # the database gives up before the commit
    assert svc0.store.exists(rec.object_key)
    assert finish_disposals(svc0.db, svc0.store, svc0.ledger, actor="clerk") == []
    with svc0.db.session() as s:
        again = s.get(Recording, rec.id)
        assert again is not None and again.disposed_at is None
        assert s.scalar(select(Disposal)) is None


def test_a_locked_original_leaves_a_pending_disposal_that_a_retry_finishes(
    svc0: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.errors import ObjectLocked

    with svc0.db.session() as s:
        rec = add_recording(s, start=ago(40), seconds=60, store=svc0.store)
        copy = svc0.store.put(f"derived/{rec.sha256}/proxy.mp4", io.BytesIO(b"proxy"))
        s.add(Derivative(recording_id=rec.id, kind="proxy", object_key=copy.key, size=5,
                         sha256="0" * 64, source_sha256=rec.sha256, created_at=NOW))  # fmt: skip
    _dispose(svc0, rec.id)
    # The store refuses the original (a retention the pre-check could not see): a fault of
    # the store that cannot be arranged for real between the check and the delete.
    real_delete = svc0.store.delete

    def refuse_original(key: str) -> None:
        if key == rec.object_key:
            raise ObjectLocked(f"{key} is locked")
        real_delete(key)

    monkeypatch.setattr(svc0.store, "delete", refuse_original)
    (first,) = finish_disposals(svc0.db, svc0.store, svc0.ledger, actor="clerk")
    assert first.state == "pending" and first.remaining == [rec.object_key]
    assert first.deleted == [copy.key] and "locked" in (first.error or "")
    assert svc0.store.exists(rec.object_key) and not svc0.store.exists(copy.key)
    with svc0.db.session() as s:
        row = s.scalar(select(Disposal))
        assert row is not None and row.state == "pending" and row.pending_keys == [rec.object_key]
        assert "locked" in (row.last_error or "")
        assert s.get(Recording, rec.id).disposed_at is not None  # type: ignore[union-attr]

    monkeypatch.setattr(svc0.store, "delete", real_delete)
    (second,) = finish_disposals(svc0.db, svc0.store, svc0.ledger, actor="clerk")
    assert second.state == "done" and second.deleted == [rec.object_key]
    assert not svc0.store.exists(rec.object_key)
    actions = [e.action for e in svc0.ledger.events(rec.id)]
    assert actions[-2:] == ["recording.disposed", "recording.disposal_completed"]
    assert svc0.ledger.verify().ok


def test_disposed_transcripts_and_tracks_leave_search(svc0: Services) -> None:
    from models.speech.transcribe import Segment, Transcript
    from models.speech.transcripts import replace_transcripts, search

    with svc0.db.session() as s:
        rec = add_recording(s, start=ago(40), seconds=60, store=svc0.store)
        seg = Segment(start=1.0, end=2.0, text="the horizon seems extremely distant",
                      language="en", language_probability=1.0, avg_logprob=-0.1,
                      no_speech_prob=0.0, compression_ratio=1.0, confidence=0.9,
                      speech_ratio=1.0)  # fmt: skip
        replace_transcripts(s, rec.id, "p" * 64, [Transcript(
            recording_id=rec.id, stream_index=0, stream_label="audio 1", status="done",
            segments=[seg])])  # fmt: skip
    assert [h.recording_id for h in search(svc0.db, "horizon")] == [rec.id]
    _dispose(svc0, rec.id)
    assert search(svc0.db, "horizon") == []
    assert search(svc0.db, "extremely distant") == []


def test_due_with_the_store_reports_locked_objects(make_services: object) -> None:
    svc = make_services(retention_days=3650)  # type: ignore[operator]
    with svc.db.session() as s:
        rec = add_recording(s, start=ago(40), seconds=60, store=svc.store)
        # By the policy alone it is due; the store still locks it for ten years.
        assert [a.state for a in assess_all(s, POLICY, NOW)] == ["due"]
        (verdict,) = assess_all(s, POLICY, NOW, svc.store)
        assert verdict.state == "locked" and verdict.detail.startswith("locked until ")
        assert due(s, POLICY, NOW, svc.store) == []
    assert rec.id
