"""The processing jobs (as `custos jobs` lists them) and the custody ledger's events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentUser, UserSvc
from api.schemas import JobOut, LedgerEventOut
from api.services import access
from workers.jobs import list_jobs

router = APIRouter(prefix="/api", tags=["jobs"])


@router.get("/jobs", responses={404: {}})
def jobs(svc: UserSvc, user: CurrentUser, recording: str | None = None) -> list[JobOut]:
    """Jobs of one recording, or of every recording the caller may see."""
    access.require(user, "case.read")
    if recording is not None:
        rec = access.visible_recording(svc, user, recording, "jobs")
        return [JobOut.of(j) for j in list_jobs(svc, recording_id=rec.id)]
    views = list_jobs(svc)
    seen = access.seen_recordings(svc, user, {v.recording_id for v in views})
    return [JobOut.of(j) for j in views if j.recording_id in seen]


@router.get("/ledger/events")
def ledger_events(
    svc: UserSvc,
    user: CurrentUser,
    subject: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> list[LedgerEventOut]:
    """Ledger events in sequence order (of one subject when given), at most `limit`, newest
    kept."""
    access.require(user, "ledger.read")
    events = svc.ledger.events(subject)
    return [LedgerEventOut.of(e) for e in events[-limit:]]
