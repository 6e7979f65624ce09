"""Look-ups shared by the commands: cases, steps and recordings by the names people use."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.errors import Ambiguous, NotFound
from cases.tables import Case, Step
from storage import lookup
from storage.db.schema import Recording


def find_case(session: Session, case_no: str) -> Case:
    case = session.scalar(select(Case).where(Case.case_no == case_no))
    if case is None:
        raise NotFound(f"no case {case_no!r}")
    return case


def find_recording(session: Session, ref: str) -> Recording:
    """A recording by the names people use (see `storage.lookup.find_recording`)."""
    try:
        return lookup.find_recording(session, ref)
    except lookup.AmbiguousRecording as exc:
        raise Ambiguous(str(exc)) from exc
    except lookup.NoSuchRecording as exc:
        raise NotFound(str(exc)) from exc


def find_step(session: Session, ref: str, case_no: str | None = None) -> Step:
    """A step by numeric id, `CASE_NO:KEY`, or a key within `case_no`."""
    ref = ref.strip()
    if ref.isdigit():
        by_id = session.get(Step, int(ref))
        if by_id is not None and (case_no is None or _case_no(session, by_id) == case_no):
            return by_id
    if ":" in ref:
        case_no, ref = ref.rsplit(":", 1)
    query = select(Step).join(Case, Case.id == Step.case_id).where(Step.key == ref)
    if case_no is not None:
        query = query.where(Case.case_no == case_no)
    rows = list(session.scalars(query.limit(2)))
    if not rows:
        where = f" in case {case_no!r}" if case_no else ""
        raise NotFound(f"no step {ref!r}{where}")
    if len(rows) > 1:
        raise Ambiguous(f"step key {ref!r} exists in several cases; write CASE_NO:{ref}")
    return rows[0]


def case_steps(session: Session, case: Case) -> list[Step]:
    return list(
        session.scalars(
            select(Step).where(Step.case_id == case.id).order_by(Step.start_at, Step.key)
        )
    )


def _case_no(session: Session, step: Step) -> str | None:
    return session.scalar(select(Case.case_no).where(Case.id == step.case_id))
