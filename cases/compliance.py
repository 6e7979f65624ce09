"""Compliance per step and per case, computed from links, never typed in.

Lights:
- red: a `full` step with a gap longer than the drift tolerance, or with no recording
  in its window at all (nothing linked, or nothing linked within the tolerance of the
  window; a step shorter than the tolerance included);
- yellow: a `key_moments` step without recording, a linked record missing required
  capture metadata, or a step whose window cannot be checked (no end time);
- green: everything else (an `optional` step needs no recording).
A case takes the worst light of its steps.

Besides recording, what the officer said is checked (`cases.statements`): a statement
the step's kind requires that no transcribed recording of the step has (or has only late,
when it belongs at the start) is a yellow issue. Uncivil expressions are listed
(`language_flags`) without changing the light. Written records attached to the step are
listed beside its recordings; those its kind requires but lacks are listed as
`written_records_missing` (yellow only with `written_record_light: yellow`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import records, statements
from cases.intervals import Interval, clip, gaps, merge, total
from cases.kinds import Checklist
from cases.repo import case_steps, find_case
from cases.tables import LINK_CONFIRMED, LINK_REJECTED, LINK_SUGGESTED, Case, Link, Step
from cases.times import as_utc, hms, iso, maybe_utc, round_second
from storage.db.schema import Recording

Light = Literal["green", "yellow", "red"]
_RANK: dict[str, int] = {"green": 0, "yellow": 1, "red": 2}

# Names ingest or people may use for the same piece of capture metadata.
_FIELD_ALIASES = {
    "case": "case_no",
    "case_no": "case_no",
    "case_number": "case_no",
    "capture_time": "capture_time",
    "capture_start": "capture_time",
    "time": "capture_time",
    "place": "place",
    "location": "place",
    "collector": "collector",
    "officer": "collector",
    "proves": "proves",
    "purpose": "proves",
}
_FIELD_COLUMN = {
    "case_no": "case_no",
    "capture_time": "capture_start",
    "place": "location",
    "collector": "collector",
    "proves": "proves",
}


def worst(lights: Iterable[str]) -> Light:
    result: Light = "green"
    for light in lights:
        if _RANK[light] > _RANK[result]:
            result = "red" if light == "red" else "yellow"
    return result


@dataclass(frozen=True)
class StepWindow:
    step_id: int
    key: str
    kind: str
    start: datetime
    end: datetime | None
    title: str = ""

    @classmethod
    def of(cls, step: Step) -> StepWindow:
        return cls(
            step.id, step.key, step.kind, as_utc(step.start_at), maybe_utc(step.end_at), step.title
        )


@dataclass(frozen=True)
class LinkedPiece:
    """The part of one recording linked to a step; `span` None: its time is unknown."""

    link_id: int
    recording_id: str
    span: Interval | None
    device_id: str | None = None
    missing_metadata: tuple[str, ...] = ()
    status: str = LINK_CONFIRMED
    name: str = ""


@dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime
    message: str

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class StepCompliance:
    step_id: int
    key: str
    kind: str
    kind_name: str
    requirement: str
    start: datetime
    end: datetime | None
    light: Light
    recorded: bool  # at least one linked recording falls in the window (or has no time)
    recordings: tuple[str, ...]
    covered_s: float
    window_s: float
    gaps: tuple[Gap, ...]
    issues: tuple[str, ...]
    speech: statements.StepSpeech | None = None  # required statements, language flags
    written: tuple[dict[str, Any], ...] = ()  # attached written records (record_to_json)
    written_missing: tuple[str, ...] = ()  # kinds of written record required, not attached


@dataclass(frozen=True)
class CaseCompliance:
    case_no: str
    title: str
    unit: str | None
    status: str
    light: Light
    steps: tuple[StepCompliance, ...]
    unlinked_recordings: tuple[str, ...]
    issues: tuple[str, ...]


def evaluate_step(
    step: StepWindow, pieces: Sequence[LinkedPiece], checklist: Checklist
) -> StepCompliance:
    """The light, gaps and issues of one step from the recordings linked to it."""
    rule = checklist.rule(step.kind)
    tolerance = timedelta(seconds=checklist.drift_tolerance_s)
    timed = [p.span for p in pieces if p.span is not None and p.span.length > timedelta(0)]
    untimed = [p for p in pieces if p.span is None]
    issues: list[str] = []
    lights: list[Light] = ["green"]
    gap_list: list[Gap] = []

    if step.end is None:
        window = Interval(step.start, step.start)
        reach = [s for s in timed if s.end >= step.start - tolerance]
        covered_s = 0.0
    else:
        window = Interval(step.start, step.end)
        reach = [s for s in timed if s.intersect(window.widen(tolerance)) is not None]
        covered_s = total(clip(timed, window)).total_seconds()
    recorded = bool(reach or untimed)

    if untimed:
        issues.append(f"{len(untimed)} linked recording(s) have no capture time")
    if rule.requirement == "full":
        outside = f"the recordings linked to {rule.name} lie outside its window"
        nothing = f"no recording of {rule.name} (full recording required)"
        if step.end is None:
            # Without an end only "nothing at all" can be told apart from "unchecked".
            lights.append("yellow" if recorded else "red")
            if recorded:
                issues.append(f"{rule.name} has no end time; continuity cannot be checked")
            else:
                issues.append(outside if pieces else nothing)
        else:
            for hole in gaps(merge(timed), window, tolerance):
                message = (
                    f"no recording {hms(hole.start, same_day_as=step.start)}-"
                    f"{hms(hole.end, same_day_as=step.start)} during {rule.name}"
                )
                gap_list.append(Gap(hole.start, hole.end, message))
            if gap_list:
                lights.append("red")
                issues.extend(g.message for g in gap_list)
            elif not reach:
                # A window no longer than the tolerance never has a gap to report, yet
                # nothing timed falls in it: that is a step with no recording, red.
                lights.append("red")
                timed_links = any(p.span is not None for p in pieces)
                issues.append(outside if timed_links else nothing)
    elif rule.requirement == "key_moments" and not recorded:
        lights.append("yellow")
        if pieces:
            issues.append(f"the recordings linked to {rule.name} lie outside its window")
        else:
            issues.append(f"no recording of the key moments of {rule.name}")

    for piece in pieces:
        if piece.missing_metadata:
            lights.append("yellow")
            label = piece.name or piece.recording_id
            issues.append(
                f"recording {label} lacks capture metadata: {', '.join(piece.missing_metadata)}"
            )

    return StepCompliance(
        step_id=step.step_id,
        key=step.key,
        kind=step.kind,
        kind_name=rule.name,
        requirement=rule.requirement,
        start=step.start,
        end=step.end,
        light=worst(lights),
        recorded=recorded,
        recordings=tuple(dict.fromkeys(p.recording_id for p in pieces)),
        covered_s=round(covered_s, 3),
        window_s=window.seconds,
        gaps=tuple(gap_list),
        issues=tuple(issues),
    )


# -- database side ------------------------------------------------------------------


def recording_interval(rec: Recording) -> Interval | None:
    if rec.capture_start is None or rec.duration_s is None:
        return None
    return Interval.of(rec.capture_start, rec.duration_s)


def effective_span(link: Link, rec: Recording) -> Interval | None:
    """The link's range cut to the recording; zero-length when they do not meet."""
    whole = recording_interval(rec)
    if link.range_start is None or link.range_end is None:
        return whole
    asked = Interval(link.range_start, link.range_end)
    if whole is None:
        return asked
    return asked.intersect(whole) or Interval(asked.start, asked.start)


def missing_metadata(rec: Recording, link: Link, required: Sequence[str]) -> tuple[str, ...]:
    """Required capture metadata still missing once the link's own facts are counted.

    Ingest flags what the recorder did not supply; linking to a step supplies the case
    number, and a link that says what it proves supplies `proves`.
    """
    declared = [str(f) for f in (rec.missing_fields or [])]
    if rec.incomplete and not declared:
        declared = ["metadata"]
    wanted = {_FIELD_ALIASES.get(f.lower(), f.lower()) for f in required}
    missing: list[str] = []
    for raw in declared:
        name = _FIELD_ALIASES.get(raw.lower(), raw.lower())
        if name in _FIELD_COLUMN:
            if name not in wanted or getattr(rec, _FIELD_COLUMN[name]) not in (None, ""):
                continue
            if name == "case_no" or (name == "proves" and link.proves):
                continue
        if name not in missing:
            missing.append(name)
    return tuple(missing)


def _statuses(include_suggested: bool) -> tuple[str, ...]:
    return (LINK_CONFIRMED, LINK_SUGGESTED) if include_suggested else (LINK_CONFIRMED,)


def load_pieces(
    session: Session,
    step_ids: Collection[int],
    checklist: Checklist,
    *,
    include_suggested: bool = False,
) -> dict[int, list[LinkedPiece]]:
    """Linked pieces per step id, in bulk (chunks keep SQL parameter lists short)."""
    result: dict[int, list[LinkedPiece]] = {}
    ids = sorted(set(step_ids))
    for offset in range(0, len(ids), 500):
        rows = session.execute(
            select(Link, Recording)
            .join(Recording, Recording.id == Link.recording_id)
            .where(
                Link.step_id.in_(ids[offset : offset + 500]),
                Link.status.in_(_statuses(include_suggested)),
            )
            .order_by(Link.id)
        )
        for link, rec in rows:
            result.setdefault(link.step_id, []).append(
                LinkedPiece(
                    link_id=link.id,
                    recording_id=rec.id,
                    span=effective_span(link, rec),
                    device_id=rec.device_id,
                    missing_metadata=missing_metadata(rec, link, checklist.required_metadata),
                    status=link.status,
                    name=rec.original_name,
                )
            )
    return result


def steps_compliance(
    session: Session,
    steps: Sequence[Step],
    checklist: Checklist,
    *,
    include_suggested: bool = False,
) -> list[StepCompliance]:
    pieces = load_pieces(
        session, [s.id for s in steps], checklist, include_suggested=include_suggested
    )
    windows = [StepWindow.of(s) for s in steps]
    spoken = statements.check_steps(session, windows, pieces, checklist)
    written = records.step_records(session, [s.id for s in steps])
    return [
        _with_speech_and_writing(
            evaluate_step(w, pieces.get(w.step_id, []), checklist),
            spoken.get(w.step_id),
            written.get(w.step_id, []),
            checklist,
        )
        for w in windows
    ]


def _with_speech_and_writing(
    verdict: StepCompliance,
    speech: statements.StepSpeech | None,
    written: Sequence[records.WrittenRecord],
    checklist: Checklist,
) -> StepCompliance:
    rule = checklist.rule(verdict.kind)
    attached = {w.kind for w in written}
    missing = tuple(k for k in rule.written_records if k not in attached)
    issues = list(verdict.issues)
    lights: list[str] = [verdict.light]
    if speech is not None and speech.issues:
        issues.extend(speech.issues)
        lights.append("yellow")
    if missing and checklist.written_record_light == "yellow":
        issues.append(f"no written record ({', '.join(missing)}) attached to {rule.name}")
        lights.append("yellow")
    return replace(
        verdict,
        light=worst(lights),
        issues=tuple(issues),
        speech=speech,
        written=tuple(records.record_to_json(w) for w in written),
        written_missing=missing,
    )


def unlinked_recordings(session: Session, case: Case) -> list[str]:
    """Recordings tagged with the case number that no step of the case uses (written
    records attached to a step are documents, not recordings waiting for a step)."""
    linked = (
        select(Link.recording_id)
        .join(Step, Step.id == Link.step_id)
        .where(Step.case_id == case.id, Link.status != LINK_REJECTED)
    )
    documents = select(records.WrittenRecord.recording_id)
    return list(
        session.scalars(
            select(Recording.id)
            .where(
                Recording.case_no == case.case_no,
                Recording.id.not_in(linked),
                Recording.id.not_in(documents),
            )
            .order_by(Recording.capture_start, Recording.id)
        )
    )


def case_compliance(
    session: Session, case_no: str, checklist: Checklist, *, include_suggested: bool = False
) -> CaseCompliance:
    case = find_case(session, case_no)
    steps = steps_compliance(
        session, case_steps(session, case), checklist, include_suggested=include_suggested
    )
    issues = [] if steps else ["the case has no steps"]
    return CaseCompliance(
        case_no=case.case_no,
        title=case.title,
        unit=case.unit,
        status=case.status,
        light=worst([s.light for s in steps] or ["yellow"]),
        steps=tuple(steps),
        unlinked_recordings=tuple(unlinked_recordings(session, case)),
        issues=tuple(issues),
    )


def step_to_json(step: StepCompliance) -> dict[str, Any]:
    return {
        "step_id": step.step_id,
        "key": step.key,
        "kind": step.kind,
        "kind_name": step.kind_name,
        "requirement": step.requirement,
        "start": iso(step.start),
        "end": iso(step.end),
        "light": step.light,
        "recorded": step.recorded,
        "recordings": list(step.recordings),
        "covered_s": step.covered_s,
        "window_s": step.window_s,
        "gaps": [
            {
                "start": iso(round_second(g.start)),
                "end": iso(round_second(g.end)),
                "seconds": round(g.seconds, 3),
                "message": g.message,
            }
            for g in step.gaps
        ],
        "issues": list(step.issues),
        # Added with required statements and written records; the keys above are unchanged.
        **speech_to_json(step.speech),
        "written_records": list(step.written),
        "written_records_missing": list(step.written_missing),
    }


def speech_to_json(speech: statements.StepSpeech | None) -> dict[str, Any]:
    if speech is None:
        return {"statements": [], "statement_recordings": [], "language_flags": []}
    return {
        "statements": [v.to_json() for v in speech.verdicts],
        "statement_recordings": [r.to_json() for r in speech.recordings],
        "language_flags": [f.to_json() for f in speech.flags],
    }


def case_to_json(case: CaseCompliance) -> dict[str, Any]:
    return {
        "case_no": case.case_no,
        "title": case.title,
        "unit": case.unit,
        "status": case.status,
        "light": case.light,
        "steps": [step_to_json(s) for s in case.steps],
        "unlinked_recordings": list(case.unlinked_recordings),
        "issues": list(case.issues),
    }
