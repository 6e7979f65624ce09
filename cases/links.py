"""Links between recordings and case steps: suggested by time and device/officer, confirmed
by a person, or added by hand.

A suggestion needs the recording's capture time (capture_start + duration) to overlap the
step's window (widened by the drift tolerance) for a moment or more, and a reason to believe
it belongs: the recording is tagged with the case number, or its device or collector is
named on the step. A recording without capture time is suggested only when it is tagged with
the case and the step. Never suggested: a recording tagged with another case, a file that is
not media or is empty, and a recording whose suggested part is already confirmed on another
step. Suggestions still waiting for a decision are listed again (`pending_before`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cases.compliance import recording_interval
from cases.errors import ConfigFileError, LinkError, NotFound
from cases.intervals import Interval, overlap
from cases.kinds import Checklist
from cases.repo import case_steps
from cases.tables import LINK_CONFIRMED, LINK_REJECTED, LINK_SUGGESTED, Case, Link, Step
from cases.times import as_utc, iso, maybe_utc, parse_offset, parse_time
from storage.db.schema import Recording
from storage.ledger import Ledger

NOT_MEDIA = "not-media"  # recordings.status of a file that is not audio/video/image

# Candidates are fetched by capture start; recordings longer than this may be missed.
MAX_RECORDING = timedelta(hours=24)


@dataclass(frozen=True)
class Suggestion:
    link_id: int
    recording_id: str
    step_id: int
    step_key: str
    range_start: datetime | None
    range_end: datetime | None
    basis: dict[str, Any]
    pending_before: bool = False  # suggested by an earlier run, not yet confirmed/rejected


def _step_window(step: Step) -> Interval:
    start = as_utc(step.start_at)
    return Interval(start, maybe_utc(step.end_at) or start)


def _tagged_for(rec: Recording, step: Step, checklist: Checklist) -> bool:
    if not rec.step:
        return False
    if rec.step.strip() == step.key:
        return True
    try:
        return checklist.resolve(rec.step) == checklist.resolve(step.kind)
    except ConfigFileError:
        return False


def _candidates(
    session: Session, case: Case, steps: Sequence[Step], tol: timedelta
) -> list[Recording]:
    devices = sorted({str(d) for s in steps for d in (s.devices or [])})
    officers = sorted({str(o) for s in steps for o in (s.officers or [])})
    first = min(as_utc(s.start_at) for s in steps)
    last = max(maybe_utc(s.end_at) or as_utc(s.start_at) for s in steps)
    near = (
        Recording.capture_start.is_not(None)
        & (Recording.capture_start <= last + tol)
        & (Recording.capture_start >= first - tol - MAX_RECORDING)
    )
    belongs = [Recording.case_no == case.case_no]
    if devices:
        belongs.append(Recording.device_id.in_(devices))
    if officers:
        belongs.append(Recording.collector.in_(officers))
    query = (
        select(Recording)
        .where(Recording.disposed_at.is_(None))
        .where(Recording.size > 0, Recording.status != NOT_MEDIA)
        .where(or_(Recording.case_no == case.case_no, near & or_(*belongs)))
        .order_by(Recording.capture_start, Recording.id)
    )
    return list(session.scalars(query))


def suggest(
    session: Session,
    case: Case,
    checklist: Checklist,
    *,
    actor: str,
    ledger: Ledger | None = None,
    now: datetime | None = None,
) -> list[Suggestion]:
    """Add suggested links for `case` and return them, followed by the suggestions of earlier
    runs still waiting for a decision (`pending_before=True`). Pairs that already have a link
    (even rejected) get no new one, so a second run adds nothing but lists what is pending."""
    now = now or datetime.now(UTC)
    steps = case_steps(session, case)
    if not steps:
        return []
    tol = timedelta(seconds=checklist.drift_tolerance_s)
    by_id = {s.id: s for s in steps}
    earlier = list(session.scalars(select(Link).where(Link.step_id.in_(list(by_id)))))
    existing: set[tuple[str, int]] = {(link.recording_id, link.step_id) for link in earlier}
    candidates = _candidates(session, case, steps, tol)
    elsewhere = _confirmed_elsewhere(session, [r.id for r in candidates])
    made: list[Suggestion] = []
    for rec in candidates:
        if rec.case_no and rec.case_no != case.case_no:
            continue
        whole = recording_interval(rec)
        for step in steps:
            if (rec.id, step.id) in existing:
                continue
            basis = _basis(rec, step, whole, case, checklist, tol)
            if basis is None:
                continue
            part = _suggested_range(whole, _step_window(step), tol)
            if _already_confirmed(elsewhere.get(rec.id, []), step.id, part or whole):
                continue
            link = Link(
                recording_id=rec.id,
                step_id=step.id,
                range_start=part.start if part else None,
                range_end=part.end if part else None,
                proves=rec.proves,
                status=LINK_SUGGESTED,
                basis=basis,
                created_at=now,
                created_by=actor,
            )
            session.add(link)
            session.flush()
            existing.add((rec.id, step.id))
            made.append(
                Suggestion(
                    link.id, rec.id, step.id, step.key, link.range_start, link.range_end, basis
                )
            )
    if made and ledger is not None:
        ledger.append(
            session,
            actor=actor,
            action="case.links.suggested",
            subject=f"case:{case.case_no}",
            details={"links": [m.link_id for m in made]},
        )
    pending = sorted(
        (link for link in earlier if link.status == LINK_SUGGESTED),
        key=lambda link: (by_id[link.step_id].start_at, link.range_start or now, link.id),
    )
    return made + [
        Suggestion(
            link.id,
            link.recording_id,
            link.step_id,
            by_id[link.step_id].key,
            maybe_utc(link.range_start),
            maybe_utc(link.range_end),
            dict(link.basis or {}),
            pending_before=True,
        )
        for link in pending
    ]


def _confirmed_elsewhere(
    session: Session, recording_ids: Sequence[str]
) -> dict[str, list[tuple[int, Interval | None]]]:
    """Confirmed links of these recordings: recording id -> [(step id, range or None)]."""
    found: dict[str, list[tuple[int, Interval | None]]] = {}
    if not recording_ids:
        return found
    rows = session.scalars(
        select(Link).where(
            Link.recording_id.in_(list(recording_ids)), Link.status == LINK_CONFIRMED
        )
    )
    for link in rows:
        span = (
            Interval(link.range_start, link.range_end)
            if link.range_start is not None and link.range_end is not None
            else None
        )
        found.setdefault(link.recording_id, []).append((link.step_id, span))
    return found


def _already_confirmed(
    confirmed: Sequence[tuple[int, Interval | None]], step_id: int, part: Interval | None
) -> bool:
    """Whether the part of a recording that would be suggested for `step_id` is already
    confirmed on another step (a link without a range stands for the whole recording).
    A long recording confirmed on one step for another part of it can still be suggested."""
    for other_step, span in confirmed:
        if other_step == step_id:
            continue
        if span is None or part is None or span.intersect(part) is not None:
            return True
    return False


def _suggested_range(whole: Interval | None, window: Interval, tol: timedelta) -> Interval | None:
    """The part of the recording inside the window; for a recording that meets the window
    only within the drift tolerance, the part inside the widened window."""
    if whole is None:
        return None
    return whole.intersect(window) or whole.intersect(window.widen(tol))


def _basis(
    rec: Recording,
    step: Step,
    whole: Interval | None,
    case: Case,
    checklist: Checklist,
    tol: timedelta,
) -> dict[str, Any] | None:
    """Why `rec` may belong to `step`, or None when it does not."""
    same_case = rec.case_no == case.case_no
    tagged = same_case and _tagged_for(rec, step, checklist)
    device = bool(rec.device_id) and rec.device_id in (step.devices or [])
    officer = bool(rec.collector) and rec.collector in (step.officers or [])
    if not (same_case or device or officer):
        return None
    if whole is None:
        # No capture time to compare: only a recording tagged with this case and step.
        return _pack(None, 0.0, same_case, tagged, device, officer) if tagged else None
    window = _step_window(step)
    if whole.intersect(window.widen(tol)) is None:
        return None  # no capture-time overlap, not even within the drift tolerance
    shared = overlap(whole, window).total_seconds()
    outside = 0.0 if shared > 0 else _distance(whole, window).total_seconds()
    return _pack(shared, outside, same_case, tagged, device, officer)


def _distance(a: Interval, b: Interval) -> timedelta:
    """How far apart two intervals that do not overlap are."""
    return max(b.start - a.end, a.start - b.end, timedelta(0))


def _pack(
    shared: float | None, outside: float, case: bool, tagged: bool, device: bool, officer: bool
) -> dict[str, Any]:
    """`overlap_s`: seconds shared with the step window (None: no capture time);
    `outside_s`: for a recording within the drift tolerance only, how far outside it is."""
    return {
        "overlap_s": None if shared is None else round(shared, 3),
        "outside_s": round(outside, 3),
        "case_no": case,
        "tagged_step": tagged,
        "device": device,
        "officer": officer,
    }


def decide(
    session: Session,
    link_ids: Sequence[int],
    *,
    accept: bool,
    actor: str,
    ledger: Ledger | None = None,
    now: datetime | None = None,
) -> list[Link]:
    """Confirm (accept=True) or reject suggested links."""
    now = now or datetime.now(UTC)
    done: list[Link] = []
    for link_id in link_ids:
        link = session.get(Link, link_id)
        if link is None:
            raise NotFound(f"no link {link_id}")
        link.status = LINK_CONFIRMED if accept else LINK_REJECTED
        link.decided_at = now
        link.decided_by = actor
        if ledger is not None:
            ledger.append(
                session,
                actor=actor,
                action="case.link.confirmed" if accept else "case.link.rejected",
                subject=link.recording_id,
                details=_link_details(link),
            )
        done.append(link)
    session.flush()
    return done


def _link_details(link: Link) -> dict[str, Any]:
    return {
        "link": link.id,
        "step": link.step_id,
        "from": iso(link.range_start),
        "to": iso(link.range_end),
        "proves": link.proves,
    }


def resolve_range(
    rec: Recording, start_text: str | None, end_text: str | None
) -> tuple[datetime | None, datetime | None]:
    """`--from`/`--to` as UTC times: ISO times, or offsets (`90`, `1:30`, `0:01:30`) into
    the recording counted from its capture start."""

    def one(text: str | None) -> datetime | None:
        if text is None:
            return None
        offset = parse_offset(text)
        if offset is None:
            return parse_time(text)
        if rec.capture_start is None:
            raise LinkError(f"{rec.original_name} has no capture time; give --from/--to as times")
        return as_utc(rec.capture_start) + offset

    return one(start_text), one(end_text)


def link_manual(
    session: Session,
    rec: Recording,
    step: Step,
    *,
    start: datetime | None,
    end: datetime | None,
    proves: str | None,
    actor: str,
    checklist: Checklist,
    ledger: Ledger | None = None,
    now: datetime | None = None,
) -> Link:
    """Link the range [start, end] of `rec` (default: all of it) to `step`, confirmed.

    A range that runs past the recording is trimmed to it (compare the link's range with
    the one asked for); only a range entirely outside the recording is refused.

    An open suggestion for the same pair is confirmed with the given range instead of
    adding a second link.
    """
    now = now or datetime.now(UTC)
    whole = recording_interval(rec)
    if (start is None) != (end is None) and whole is None:
        raise LinkError("the recording has no capture time: give both --from and --to")
    if whole is not None:
        start = start or whole.start
        end = end or whole.end
    if start is not None and end is not None:
        if end <= start:
            raise LinkError("--to must be after --from")
        if whole is not None:
            inside = Interval(start, end).intersect(whole)
            if inside is None:
                raise LinkError(
                    f"range {iso(start)}..{iso(end)} is outside the recording "
                    f"({iso(whole.start)}..{iso(whole.end)})"
                )
            start, end = inside.start, inside.end
    link = session.scalar(
        select(Link).where(
            Link.recording_id == rec.id, Link.step_id == step.id, Link.status == LINK_SUGGESTED
        )
    )
    if link is None:
        link = Link(
            recording_id=rec.id,
            step_id=step.id,
            status=LINK_CONFIRMED,
            basis={"manual": True},
            created_at=now,
            created_by=actor,
        )
        session.add(link)
    link.range_start, link.range_end = start, end
    link.proves = proves if proves is not None else link.proves
    link.status = LINK_CONFIRMED
    link.decided_at, link.decided_by = now, actor
    session.flush()
    if ledger is not None:
        ledger.append(
            session,
            actor=actor,
            action="case.link.confirmed",
            subject=rec.id,
            details=_link_details(link),
        )
    return link
