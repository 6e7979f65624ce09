"""Retention: when a record may be disposed of, legal holds, and approved disposal.

Nothing is due while it is under legal hold or belongs to a case that is still open
(a case number Custos does not know counts as open: it cannot be shown closed).
Disposal needs a second person's approval, is written to the custody ledger, and
deletes stored bytes only through the object store, which refuses held or
still-retained (WORM) objects.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cases.errors import CasesError, ConfigFileError, DisposalRefused
from cases.tables import (
    CASE_CLOSED,
    DISPOSAL_DONE,
    DISPOSAL_PENDING,
    LINK_REJECTED,
    Case,
    Disposal,
    Link,
    Step,
)
from cases.times import as_utc, iso, maybe_utc
from storage.db import Database
from storage.db.schema import Derivative, Recording
from storage.errors import ObjectLocked, ObjectNotFound, StorageError
from storage.ledger import Ledger
from storage.objects import ObjectStore

DEFAULT_POLICY = Path(__file__).with_name("retention.yaml")


@dataclass(frozen=True)
class Period:
    days: int = 0
    months: int = 0
    years: int = 0
    permanent: bool = False

    def after(self, start: datetime) -> datetime | None:
        """`start` plus this period (calendar months and years); None when permanent."""
        if self.permanent:
            return None
        month_index = start.month - 1 + self.months + 12 * self.years
        year, month = start.year + month_index // 12, month_index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day) + timedelta(days=self.days)

    def min_days(self) -> int | None:
        """The fewest whole days this period can last (calendar months vary), or None when
        permanent: an object lock no longer than this never outlasts the period."""
        if self.permanent:
            return None
        first = datetime(2023, 1, 1, tzinfo=UTC)  # two years: every month, leap and not
        starts = (first + timedelta(days=n) for n in range(731))
        return min((end - start).days for start in starts if (end := self.after(start)))


@dataclass(frozen=True)
class RetentionPolicy:
    categories: dict[str, Period]
    default_category: str
    case_category: str
    source: str = "<memory>"

    def shortest(self) -> tuple[str, int] | None:
        """The category with the shortest period and its fewest days; None if all permanent."""
        spans = [
            (d, name) for name, p in self.categories.items() if (d := p.min_days()) is not None
        ]
        if not spans:
            return None
        days, name = min(spans)
        return name, days


def lock_conflict(policy: RetentionPolicy, lock_days: int) -> str | None:
    """The rule between the two settings: the object lock given to every original
    (`CUSTOS_RETENTION_DAYS`) must not outlast the shortest retention period of the policy,
    or records become due that the store will not delete. A message when it does."""
    shortest = policy.shortest()
    if shortest is None or lock_days <= shortest[1]:
        return None
    name, days = shortest
    return (
        f"CUSTOS_RETENTION_DAYS={lock_days} locks every original longer than the shortest "
        f"retention period ({name!r} in {policy.source}: {days} days at least); such records "
        f"stay locked in the object store after they are due. Set CUSTOS_RETENTION_DAYS to "
        f"{days} or less, or lengthen the period."
    )


def parse_policy(data: Any, source: str = "<memory>") -> RetentionPolicy:
    if not isinstance(data, dict) or not isinstance(data.get("categories"), dict):
        raise ConfigFileError(f"{source}: expected `categories` mapping names to periods")
    unknown = set(data) - {"version", "default_category", "case_category", "categories"}
    if unknown:
        raise ConfigFileError(f"{source}: unknown keys {sorted(unknown)}")
    categories: dict[str, Period] = {}
    for name, spec in data["categories"].items():
        if not isinstance(spec, dict) or set(spec) - {"days", "months", "years", "permanent"}:
            raise ConfigFileError(
                f"{source}: category {name!r} takes days, months, years or permanent"
            )
        numbers = {k: spec.get(k, 0) for k in ("days", "months", "years")}
        if any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in numbers.values()):
            raise ConfigFileError(f"{source}: category {name!r}: periods are whole numbers >= 0")
        permanent = spec.get("permanent", False) is True
        if not permanent and not any(numbers.values()):
            raise ConfigFileError(f"{source}: category {name!r} has no period")
        categories[str(name)] = Period(permanent=permanent, **numbers)
    default = str(data.get("default_category", "routine"))
    case_category = str(data.get("case_category", default))
    for name in (default, case_category):
        if name not in categories:
            raise ConfigFileError(f"{source}: category {name!r} is not defined")
    return RetentionPolicy(categories, default, case_category, source)


def load_policy(path: Path | None = None, data_dir: Path | None = None) -> RetentionPolicy:
    """The policy at `path`, else `data_dir/retention.yaml`, else the packaged default."""
    if path is None and data_dir is not None and (data_dir / "retention.yaml").is_file():
        path = data_dir / "retention.yaml"
    path = path or DEFAULT_POLICY
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigFileError(f"cannot read retention policy {path}: {exc}") from exc
    return parse_policy(data, str(path))


@dataclass(frozen=True)
class Assessment:
    """Where one recording stands; `state` is due, held, open_case, running, permanent,
    locked (due by the policy, but the object store still locks it), disposed or
    unknown_category."""

    recording_id: str
    name: str
    state: str
    category: str
    clock_start: datetime
    retention_end: datetime | None
    cases: tuple[str, ...]
    detail: str = ""


@dataclass(frozen=True)
class _CaseState:
    case_no: str
    open: bool
    closed_at: datetime | None


def _case_states(session: Session) -> dict[str, _CaseState]:
    rows = session.execute(select(Case.case_no, Case.status, Case.closed_at))
    states = {}
    for case_no, status, closed_at in rows:
        closed = status == CASE_CLOSED and closed_at is not None
        states[case_no] = _CaseState(case_no, not closed, maybe_utc(closed_at))
    return states


def _linked_cases(session: Session, recording_ids: Iterable[str] | None) -> dict[str, set[str]]:
    query = (
        select(Link.recording_id, Case.case_no)
        .join(Step, Step.id == Link.step_id)
        .join(Case, Case.id == Step.case_id)
        .where(Link.status != LINK_REJECTED)
    )
    if recording_ids is not None:
        query = query.where(Link.recording_id.in_(list(recording_ids)))
    result: dict[str, set[str]] = {}
    for rec_id, case_no in session.execute(query):
        result.setdefault(rec_id, set()).add(case_no)
    return result


def assess(
    rec: Recording,
    policy: RetentionPolicy,
    now: datetime,
    cases: dict[str, _CaseState],
    linked: set[str],
) -> Assessment:
    refs = set(linked) | ({rec.case_no} if rec.case_no else set())
    category = rec.retention_category or (policy.case_category if refs else policy.default_category)
    start = as_utc(rec.capture_start or rec.ingested_at)
    states = [cases.get(no, _CaseState(no, True, None)) for no in sorted(refs)]
    for state in states:
        if state.closed_at is not None:
            start = max(start, state.closed_at)

    def result(state: str, end: datetime | None, detail: str = "") -> Assessment:
        return Assessment(
            rec.id, rec.original_name, state, category, start, end, tuple(sorted(refs)), detail
        )

    if rec.disposed_at is not None:
        return result("disposed", None, f"disposed at {iso(rec.disposed_at)}")
    period = policy.categories.get(category)
    if period is None:
        return result("unknown_category", None, f"no retention period for {category!r}")
    end = period.after(start)
    if rec.legal_hold:
        return result("held", end, "under legal hold")
    open_cases = [s.case_no for s in states if s.open]
    if open_cases:
        return result("open_case", end, f"belongs to open case {', '.join(open_cases)}")
    if end is None:
        return result("permanent", None, f"{category} records are kept permanently")
    if end > now:
        return result("running", end, f"retained until {iso(end)}")
    return result("due", end)


def assess_all(
    session: Session,
    policy: RetentionPolicy,
    now: datetime | None = None,
    store: ObjectStore | None = None,
) -> list[Assessment]:
    """Every recording not yet disposed of. With `store`, a recording whose policy period
    has ended but whose objects the store still locks (retain-until, legal hold) is
    `locked`, not `due`: `due` lists only what `dispose` can remove."""
    now = now or datetime.now(UTC)
    cases = _case_states(session)
    linked = _linked_cases(session, None)
    recs = list(
        session.scalars(
            select(Recording).where(Recording.disposed_at.is_(None)).order_by(Recording.ingested_at)
        )
    )
    found = [assess(r, policy, now, cases, linked.get(r.id, set())) for r in recs]
    if store is None:
        return found
    return [
        _store_lock(session, store, rec, a, now) if a.state == "due" else a
        for rec, a in zip(recs, found, strict=True)
    ]


def _store_lock(
    session: Session, store: ObjectStore, rec: Recording, verdict: Assessment, now: datetime
) -> Assessment:
    """`verdict` as `locked` when the store would refuse to delete one of the objects."""
    for key in _object_keys(session, rec):
        try:
            info = store.stat(key)
        except StorageError as exc:
            return replace(verdict, state="locked", detail=f"cannot check {key}: {exc}")
        if info is None:
            continue
        if info.legal_hold:
            return replace(verdict, state="locked", detail=f"legal hold on {key} in the store")
        if info.retain_until is not None and info.retain_until > now:
            return replace(
                verdict,
                state="locked",
                detail=f"locked until {iso(info.retain_until)} in the object store",
            )
    return verdict


def _object_keys(session: Session, rec: Recording) -> list[str]:
    derived = session.scalars(
        select(Derivative.object_key).where(Derivative.recording_id == rec.id)
    )
    return [*derived, rec.object_key]


def due(
    session: Session,
    policy: RetentionPolicy,
    now: datetime | None = None,
    store: ObjectStore | None = None,
) -> list[Assessment]:
    """Recordings whose retention has ended and that nothing holds back (with `store`:
    nor an object lock in the store)."""
    return [a for a in assess_all(session, policy, now, store) if a.state == "due"]


def assess_one(
    session: Session, rec: Recording, policy: RetentionPolicy, now: datetime | None = None
) -> Assessment:
    now = now or datetime.now(UTC)
    linked = _linked_cases(session, [rec.id]).get(rec.id, set())
    return assess(rec, policy, now, _case_states(session), linked)


def dispose(
    session: Session,
    store: ObjectStore,
    ledger: Ledger,
    rec: Recording,
    policy: RetentionPolicy,
    *,
    actor: str,
    approved_by: str,
    reason: str,
    now: datetime | None = None,
) -> Disposal:
    """Decide the disposal of a due recording: mark it disposed, remove its transcript text
    and tracks from the database (search stops finding it), record a pending Disposal and
    ledger who asked, who approved, why, and which objects are to go.

    Runs inside the caller's transaction and deletes nothing: objects are deleted only by
    `finish_disposals`, after this transaction has committed, so a refused commit leaves
    every object in place and a refused delete leaves a durable record to retry from.
    """
    now = now or datetime.now(UTC)
    if not reason.strip():
        raise DisposalRefused("a disposal needs a reason")
    if not approved_by.strip() or approved_by.strip().casefold() == actor.strip().casefold():
        raise DisposalRefused(f"a second person must approve; {actor} cannot approve their own")
    verdict = assess_one(session, rec, policy, now)
    if verdict.state != "due":
        raise DisposalRefused(f"{rec.original_name} is not due for disposal: {verdict.detail}")
    assert verdict.retention_end is not None
    derived = [
        d.object_key
        for d in session.scalars(select(Derivative).where(Derivative.recording_id == rec.id))
    ]
    # Check every object before deleting any, so a refusal leaves everything in place.
    present: list[str] = []
    for key in [*derived, rec.object_key]:
        info = store.stat(key)
        if info is None:
            continue
        if info.legal_hold:
            raise DisposalRefused(f"{key} is under legal hold in the object store")
        if info.retain_until is not None and info.retain_until > now:
            raise DisposalRefused(
                f"the object store retains {key} until {iso(info.retain_until)}; "
                "it cannot be deleted before then"
            )
        present.append(key)
    rec.disposed_at = now
    disposal = Disposal(
        recording_id=rec.id,
        sha256=rec.sha256,
        object_key=rec.object_key,
        category=verdict.category,
        retention_end=verdict.retention_end,
        requested_by=actor,
        approved_by=approved_by.strip(),
        reason=reason.strip(),
        disposed_at=now,
        object_deleted=False,
        deleted_keys=[],
        pending_keys=present,
        state=DISPOSAL_PENDING,
    )
    session.add(disposal)
    _forget_derived_rows(session, rec.id)
    # Recorded and committed first; deleted afterwards by finish_disposals.
    event = ledger.append(
        session,
        actor=actor,
        action="recording.disposed",
        subject=rec.id,
        details={
            "sha256": rec.sha256,
            "category": verdict.category,
            "retention_end": iso(verdict.retention_end),
            "approved_by": disposal.approved_by,
            "reason": disposal.reason,
            "to_delete": present,
            "original_to_delete": rec.object_key in present,
        },
    )
    disposal.ledger_seq = event.seq
    session.flush()
    return disposal


def _forget_derived_rows(session: Session, recording_id: str) -> None:
    """Transcript text and tracks of a disposed recording leave the database."""
    from models.speech.transcripts import TranscriptRow, TranscriptSegmentRow
    from models.vision.tracks_store import DetectRun, TrackRow

    session.execute(
        delete(TranscriptSegmentRow).where(TranscriptSegmentRow.recording_id == recording_id)
    )
    session.execute(
        update(TranscriptRow)
        .where(TranscriptRow.recording_id == recording_id)
        .values(current=False, segment_count=0, doubtful_count=0)
    )
    session.execute(delete(TrackRow).where(TrackRow.recording_id == recording_id))
    session.execute(delete(DetectRun).where(DetectRun.recording_id == recording_id))


@dataclass(frozen=True)
class DisposalOutcome:
    recording_id: str
    state: str  # done | pending
    deleted: list[str]
    remaining: list[str]
    error: str | None


def finish_disposals(
    db: Database, store: ObjectStore, ledger: Ledger, *, actor: str
) -> list[DisposalOutcome]:
    """Delete the objects of every pending disposal; idempotent, safe to run again.

    Derived copies go first and the original last. An object already gone counts as
    deleted; one the store refuses stays listed, with the reason, for the next run. When
    nothing remains the disposal is done and a completion event is ledgered.
    """
    with db.session() as session:
        pending = [d.id for d in session.scalars(
            select(Disposal).where(Disposal.state == DISPOSAL_PENDING).order_by(Disposal.id)
        )]  # fmt: skip
    outcomes = []
    for disposal_id in pending:
        with db.session() as session:
            row = session.get(Disposal, disposal_id)
            assert row is not None
            keys = list(row.pending_keys or [])
        keys.sort(key=lambda k: k == row.object_key)  # the original last
        deleted: list[str] = []
        remaining: list[str] = []
        error: str | None = None
        for key in keys:
            if remaining:  # never delete the original while a copy is refused
                remaining.append(key)
                continue
            try:
                store.delete(key)
            except ObjectNotFound:
                pass
            except ObjectLocked as exc:
                error = f"the object store refused to delete {key}: {exc}"
                remaining.append(key)
                continue
            deleted.append(key)

        record = partial(_record_outcome, ledger=ledger, actor=actor, disposal_id=disposal_id,
                         deleted=deleted, remaining=remaining, error=error)  # fmt: skip
        outcomes.append(db.run(record))
    return outcomes


def set_hold(
    session: Session,
    store: ObjectStore,
    ledger: Ledger,
    rec: Recording,
    *,
    on: bool,
    actor: str,
    reason: str | None = None,
) -> None:
    """Place or lift a legal hold on the original, in the store and in the database."""
    if rec.disposed_at is not None:
        raise CasesError(f"{rec.original_name} was disposed of at {iso(rec.disposed_at)}")
    if bool(rec.legal_hold) == on:
        raise CasesError(
            f"{rec.original_name} is already under legal hold; nothing changed"
            if on
            else f"{rec.original_name} has no legal hold to lift; nothing changed"
        )
    try:
        store.set_legal_hold(rec.object_key, on)
    except ObjectNotFound as exc:
        raise CasesError(f"the original of {rec.original_name} is not in the store") from exc
    rec.legal_hold = on
    ledger.append(
        session,
        actor=actor,
        action="recording.legal_hold.set" if on else "recording.legal_hold.lifted",
        subject=rec.id,
        details={"sha256": rec.sha256, "reason": reason},
    )
    session.flush()


def _record_outcome(
    session: Session,
    *,
    ledger: Ledger,
    actor: str,
    disposal_id: int,
    deleted: list[str],
    remaining: list[str],
    error: str | None,
) -> DisposalOutcome:
    again = session.get(Disposal, disposal_id)
    assert again is not None
    again.deleted_keys = [*(again.deleted_keys or []), *deleted]
    again.pending_keys = remaining
    again.object_deleted = again.object_key in again.deleted_keys
    again.last_error = error
    if not remaining:
        again.state = DISPOSAL_DONE
        ledger.append(
            session,
            actor=actor,
            action="recording.disposal_completed",
            subject=again.recording_id,
            details={"disposal_seq": again.ledger_seq, "deleted": again.deleted_keys,
                     "original_deleted": again.object_deleted},
        )  # fmt: skip
    return DisposalOutcome(again.recording_id, again.state, deleted, remaining, error)
