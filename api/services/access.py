"""Who may do what, which records a user can see, and the ledger of every retrieval.

Default deny: a recording or case outside the caller's granted cases is answered as if it
did not exist (NotVisible, 404 at the HTTP boundary) and the attempt is ledgered as
`access.denied`. Every retrieval of media, transcripts, tracks or search results is
ledgered as `access.<what>` with the user, the recording and the range.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.services.users import User
from cases.tables import LINK_REJECTED, Case, Link, Step
from storage.db.schema import LedgerEvent, Recording
from storage.services import Services

# permission -> roles that hold it (within their granted cases unless the role sees all)
PERMISSIONS: dict[str, frozenset[str]] = {
    "case.read": frozenset(
        {"technician", "case_officer", "reviewer", "disclosure_officer", "auditor", "admin"}
    ),
    "media.read": frozenset({"case_officer", "reviewer", "disclosure_officer", "auditor", "admin"}),
    "media.original": frozenset({"disclosure_officer", "admin"}),
    "upload": frozenset({"technician", "case_officer", "admin"}),
    "audit.read": frozenset({"auditor", "admin"}),
    "ledger.read": frozenset({"auditor", "admin"}),
    "disclosure.read": frozenset({"reviewer", "disclosure_officer", "auditor", "admin"}),
    "disclosure.write": frozenset({"disclosure_officer", "admin"}),
    "case.write": frozenset({"case_officer", "admin"}),
    "stats.read": frozenset({"auditor", "admin"}),
    "users.admin": frozenset({"admin"}),
}
WRITE_ROLES = PERMISSIONS["upload"]


class NotVisible(LookupError):
    """The record does not exist, or the caller has no grant for its case (same answer)."""


class Forbidden(PermissionError):
    """The caller's role does not allow this."""


class ReasonRequired(PermissionError):
    """The recording's case requires a stated reason before viewing, and none was given."""

    def __init__(self, cases: list[str]) -> None:
        self.cases = cases
        super().__init__(
            f"case {', '.join(cases)} requires a reason before viewing: send it in the "
            "X-Custos-Reason header or the reason query parameter"
        )


def allowed(user: User, permission: str) -> bool:
    return user.role in PERMISSIONS[permission]


def require(user: User, permission: str) -> None:
    if not allowed(user, permission):
        raise Forbidden(f"role {user.role} may not {permission}")


def can_write_case(user: User, case_no: str | None) -> bool:
    if user.role not in WRITE_ROLES:
        return False
    return user.role == "admin" or (case_no is not None and case_no in user.cases)


def recording_cases(session: Session, rec: Recording) -> set[str]:
    """The case the recording was acquired for and every case it is linked to."""
    linked = session.scalars(
        select(Case.case_no)
        .join(Step, Step.case_id == Case.id)
        .join(Link, Link.step_id == Step.id)
        .where(Link.recording_id == rec.id, Link.status != LINK_REJECTED)
    )
    found = set(linked)
    if rec.case_no:
        found.add(rec.case_no)
    return found


def denied(svc: Services, user: User, what: str, subject: str, **details: Any) -> None:
    svc.ledger.record(
        actor=user.name,
        action="access.denied",
        subject=subject,
        details={"user": user.name, "role": user.role, "what": what, **details},
    )


def visible_recording(svc: Services, user: User, recording_id: str, what: str) -> Recording:
    """The recording, if the caller may see it; NotVisible (and a ledger event) otherwise."""
    with svc.db.session() as session:
        rec = session.get(Recording, recording_id)
        cases = recording_cases(session, rec) if rec is not None else set()
    if rec is None:
        raise NotVisible(f"no recording {recording_id!r}")
    if not user.all_cases and not cases & user.cases:
        denied(svc, user, what, recording_id, recording=recording_id)
        raise NotVisible(f"no recording {recording_id!r}")
    return rec


def cases_requiring_reason(svc: Services, rec: Recording) -> list[str]:
    """The recording's cases whose "reason required before viewing" flag is on."""
    with svc.db.session() as session:
        numbers = recording_cases(session, rec)
        if not numbers:
            return []
        flagged = session.scalars(select(Case).where(Case.case_no.in_(numbers)))
        return sorted(c.case_no for c in flagged if (c.extra or {}).get("reason_required"))


def recordings_requiring_reason(svc: Services, recording_ids: set[str]) -> set[str]:
    """Those of `recording_ids` whose case requires a viewing reason."""
    out: set[str] = set()
    with svc.db.session() as session:
        for rid in recording_ids:
            rec = session.get(Recording, rid)
            if rec is None:
                continue
            numbers = recording_cases(session, rec)
            cases = session.scalars(select(Case).where(Case.case_no.in_(numbers)))
            if any((c.extra or {}).get("reason_required") for c in cases):
                out.add(rid)
    return out


def need_reason(svc: Services, user: User, rec: Recording, reason: str | None, what: str) -> None:
    """Refuse (ReasonRequired, ledgered as denied) a retrieval without the reason the
    recording's case demands; a reason given is carried by the `access.*` event itself."""
    if reason:
        return
    flagged = cases_requiring_reason(svc, rec)
    if flagged:
        denied(svc, user, what, rec.id, recording=rec.id, because="reason required")
        raise ReasonRequired(flagged)


def visible_case(svc: Services, user: User, case_no: str, what: str) -> str:
    """The case number, if the caller may see the case (NotVisible otherwise)."""
    if not user.can_read_case(case_no):
        denied(svc, user, what, case_no, case=case_no)
        raise NotVisible(f"no case {case_no!r}")
    return case_no


def retrieved(
    svc: Services,
    user: User,
    what: str,
    recording_id: str,
    *,
    case_no: str | None = None,
    range_: str | None = None,
    reason: str | None = None,
    **details: Any,
) -> None:
    """Ledger one retrieval: `access.<what>` by `user` of `recording_id`."""
    body: dict[str, Any] = {"user": user.name, "role": user.role, "recording": recording_id}
    if case_no is not None:
        body["case"] = case_no
    if range_ is not None:
        body["range"] = range_
    if reason:
        body["reason"] = reason
    body.update(details)
    svc.ledger.record(actor=user.name, action=f"access.{what}", subject=recording_id, details=body)


@dataclass(frozen=True)
class AccessEvent:
    seq: int
    ts: str
    user: str
    action: str
    subject: str
    details: dict[str, Any]


def access_events(
    svc: Services,
    *,
    recording: str | None = None,
    user: str | None = None,
    case_no: str | None = None,
    limit: int = 1000,
) -> list[AccessEvent]:
    """Ledgered retrievals and denied attempts, newest first."""
    query = select(LedgerEvent).where(LedgerEvent.action.startswith("access."))
    if recording is not None:
        query = query.where(LedgerEvent.subject == recording)
    if user is not None:
        query = query.where(LedgerEvent.actor == user)
    query = query.order_by(LedgerEvent.seq.desc())
    out: list[AccessEvent] = []
    with svc.db.session() as session:
        case_recordings: set[str] | None = None
        if case_no is not None:
            case_recordings = _case_recording_ids(session, case_no)
        for row in session.scalars(query):
            details = json.loads(row.details)
            if case_no is not None and not (
                details.get("case") == case_no
                or (case_recordings is not None and row.subject in case_recordings)
            ):
                continue
            out.append(AccessEvent(row.seq, row.ts, row.actor, row.action, row.subject, details))
            if len(out) >= limit:
                break
    return out


def _case_recording_ids(session: Session, case_no: str) -> set[str]:
    direct = session.scalars(select(Recording.id).where(Recording.case_no == case_no))
    linked = session.scalars(
        select(Link.recording_id)
        .join(Step, Step.id == Link.step_id)
        .join(Case, Case.id == Step.case_id)
        .where(Case.case_no == case_no)
    )
    return set(direct) | set(linked)


def visible_case_numbers(svc: Services, user: User) -> list[str]:
    """Every case the caller may see: known cases plus case numbers recordings carry."""
    with svc.db.session() as session:
        known = set(session.scalars(select(Case.case_no)))
        known |= {c for c in session.scalars(select(Recording.case_no).distinct()) if c}
    if not user.all_cases:
        known &= user.cases
    return sorted(known)


def case_recordings(svc: Services, case_no: str) -> list[Recording]:
    with svc.db.session() as session:
        ids = _case_recording_ids(session, case_no)
        rows = session.scalars(select(Recording).where(Recording.id.in_(ids)))
        return sorted(rows, key=lambda r: (r.capture_start is None, r.capture_start, r.id))


def seen_recordings(svc: Services, user: User, recording_ids: set[str]) -> set[str]:
    """Those of `recording_ids` the caller may see (for filtering lists; nothing ledgered)."""
    if user.all_cases:
        return set(recording_ids)
    seen: set[str] = set()
    with svc.db.session() as session:
        for rid in recording_ids:
            rec = session.get(Recording, rid)
            if rec is not None and recording_cases(session, rec) & user.cases:
                seen.add(rid)
    return seen
