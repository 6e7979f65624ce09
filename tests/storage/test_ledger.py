from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storage.services import Services


def _fill(svc: Services, n: int = 5) -> None:
    for i in range(n):
        svc.record("test_event", f"subject-{i}", {"i": i, "text": "证据 evidence"})


def test_intact_chain_verifies(svc: Services) -> None:
    _fill(svc)
    svc.ledger.checkpoint()
    report = svc.ledger.verify()
    assert report.ok, report.problem
    assert report.events == 5 and report.checkpoints == 1


def test_database_refuses_update_and_delete(svc: Services) -> None:
    _fill(svc, 2)
    for statement in ("UPDATE ledger_events SET actor = 'mallory'", "DELETE FROM ledger_events"):
        with pytest.raises(DBAPIError, match="append-only"), svc.db.engine.begin() as conn:
            conn.execute(text(statement))
    assert svc.ledger.verify().ok


def _drop_guards(svc: Services) -> None:
    """What an attacker with database access would do first."""
    with svc.db.engine.begin() as conn:
        if svc.db.dialect == "sqlite":
            for name in ("update", "delete"):
                conn.execute(text(f"DROP TRIGGER ledger_events_no_{name}"))
                conn.execute(text(f"DROP TRIGGER ledger_checkpoints_no_{name}"))
        else:
            conn.execute(text("DROP TRIGGER ledger_events_no_change ON ledger_events"))
            conn.execute(text("DROP TRIGGER ledger_checkpoints_no_change ON ledger_checkpoints"))


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "words"),
    [
        ("UPDATE ledger_events SET details = '{\"i\": 99}' WHERE seq = 3", 3, "altered"),
        ("DELETE FROM ledger_events WHERE seq = 2", 2, "missing"),
        ("UPDATE ledger_events SET actor = 'mallory' WHERE seq = 4", 4, "altered"),
    ],
)
def test_tampering_is_named(svc: Services, tamper: str, bad_seq: int, words: str) -> None:
    _fill(svc)
    _drop_guards(svc)
    with svc.db.engine.begin() as conn:
        conn.execute(text(tamper))
    report = svc.ledger.verify()
    assert not report.ok
    assert report.first_bad_seq == bad_seq
    assert words in (report.problem or "")


def test_reordering_is_detected(svc: Services) -> None:
    _fill(svc)
    _drop_guards(svc)
    with svc.db.engine.begin() as conn:
        # Swap the contents of events 2 and 3 while keeping their sequence numbers.
        rows = {
            r.seq: r for r in conn.execute(text("SELECT * FROM ledger_events WHERE seq IN (2,3)"))
        }
        conn.execute(text("DELETE FROM ledger_events WHERE seq IN (2,3)"))
        for seq, src in ((2, rows[3]), (3, rows[2])):
            conn.execute(
                text(
                    "INSERT INTO ledger_events (seq, ts, actor, action, subject, details, "
                    "prev_hash, hash) VALUES (:seq, :ts, :actor, :action, :subject, :details, "
                    ":prev_hash, :hash)"
                ),
                {**src._mapping, "seq": seq},
            )
    report = svc.ledger.verify()
    assert not report.ok and report.first_bad_seq == 2


def test_truncated_tail_is_caught_by_signed_checkpoint(svc: Services) -> None:
    _fill(svc)
    svc.ledger.checkpoint()
    _drop_guards(svc)
    with svc.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_events WHERE seq >= 4"))
    report = svc.ledger.verify()
    assert not report.ok and report.first_bad_seq == 4
    assert "removed" in (report.problem or "")


def test_forged_checkpoint_signature_is_caught(svc: Services) -> None:
    _fill(svc, 3)
    svc.ledger.checkpoint()
    _drop_guards(svc)
    with svc.db.engine.begin() as conn:
        conn.execute(text("UPDATE ledger_checkpoints SET signature = :s"), {"s": "00" * 64})
    report = svc.ledger.verify()
    assert not report.ok and "signature" in (report.problem or "")
