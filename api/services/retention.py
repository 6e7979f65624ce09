"""Retention and legal hold as domain operations over `Services` (`custos retention ...`,
`custos hold ...`): what is due, two-person disposal, finishing it, holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cases.retention import (
    DisposalOutcome,
    RetentionPolicy,
    assess_all,
    dispose,
    finish_disposals,
    load_policy,
    lock_conflict,
    set_hold,
)
from cases.times import iso
from storage import lookup
from storage.services import Services


def policy(svc: Services, path: Path | None = None) -> RetentionPolicy:
    """The policy in force: `path`, else DATA_DIR/retention.yaml, else the built-in."""
    return load_policy(path, svc.settings.data_dir)


def lock_warning(svc: Services, rules: RetentionPolicy) -> str | None:
    """Why the store's lock would outlast the policy's shortest period (None if it does not)."""
    return lock_conflict(rules, svc.settings.retention_days)


def due(svc: Services, rules: RetentionPolicy, *, all_states: bool = False) -> list[dict[str, Any]]:
    """Recordings past their retention period (with `all_states`, also what is held back)."""
    with svc.db.session() as session:
        items = assess_all(session, rules, datetime.now(UTC), svc.store)
    if not all_states:
        items = [a for a in items if a.state == "due"]
    return [
        {
            "recording": a.recording_id,
            "name": a.name,
            "state": a.state,
            "category": a.category,
            "clock_start": iso(a.clock_start),
            "retention_end": iso(a.retention_end),
            "cases": list(a.cases),
            "detail": a.detail,
        }
        for a in items
    ]


@dataclass(frozen=True)
class Disposal:
    recording_id: str
    name: str
    category: str
    ledger_seq: int | None
    outcomes: list[DisposalOutcome]  # of this and any earlier unfinished disposal

    @property
    def deleted(self) -> int:
        return sum(len(o.deleted) for o in self.outcomes if o.recording_id == self.recording_id)


def dispose_recording(
    svc: Services, recording: str, rules: RetentionPolicy, *, approved_by: str, reason: str
) -> Disposal:
    """Dispose of a due recording; the approver must be another person than the actor
    (`cases.retention.dispose` refuses otherwise)."""
    with svc.db.session() as session:
        rec = lookup.find_recording(session, recording)
        done = dispose(
            session,
            svc.store,
            svc.ledger,
            rec,
            rules,
            actor=svc.actor,
            approved_by=approved_by,
            reason=reason,
        )
        rec_id, name, category, seq = rec.id, rec.original_name, done.category, done.ledger_seq
    # Committed: only now are objects deleted (this and any earlier unfinished one).
    outcomes = finish_disposals(svc.db, svc.store, svc.ledger, actor=svc.actor)
    return Disposal(rec_id, name, category, seq, outcomes)


def finish(svc: Services) -> list[DisposalOutcome]:
    """Finish disposals whose objects could not all be deleted yet (safe to repeat)."""
    return finish_disposals(svc.db, svc.store, svc.ledger, actor=svc.actor)


def hold(svc: Services, recording: str, *, on: bool, reason: str | None) -> str:
    """Place or lift a legal hold; the recording's original name."""
    with svc.db.session() as session:
        rec = lookup.find_recording(session, recording)
        set_hold(session, svc.store, svc.ledger, rec, on=on, actor=svc.actor, reason=reason)
        return rec.original_name
