"""Required statements per step, checked in the transcripts of the recordings linked to it.

The checklist says, per step kind, what the officer must say (identity, credential,
notice of recording, rights ...) and where (at the start, anywhere). Each linked recording
is searched within the part of it that belongs to the step (`cases.phrases`, tolerant of
recognition errors), and each statement is reported per recording: found (time, the
words heard, score, a link that plays it) or missing. For the step, a statement counts as
made when any linked recording has it (a recorder splits a long step into files; two
officers' recorders hear the same words); one made nowhere, or only late when it belongs
at the start, is a yellow finding naming the statement and the recordings searched. A
recording without a transcript yet is listed as unchecked and finds nothing missing:
absence of evidence that was never looked at is not a finding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.orm import Session

from cases.kinds import Checklist, KindRule, StatementRule
from cases.language import LanguageFlag, flags_in
from cases.phrases import Phrase, compile_phrase
from cases.speech import Heard, Speech, heard, speech_of
from cases.times import as_utc, hms
from storage.db.schema import Recording

if TYPE_CHECKING:
    from cases.compliance import LinkedPiece, StepWindow

Status = Literal["found", "late", "missing", "unchecked"]


@dataclass(frozen=True)
class RecordingCheck:
    """The required statements in one linked recording."""

    recording_id: str
    recording: str
    checked: bool
    note: str | None
    found: tuple[tuple[str, Heard], ...]  # (statement key, where it was first heard)
    missing: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "recording_id": self.recording_id,
            "recording": self.recording,
            "checked": self.checked,
            "note": self.note,
            "found": [{"statement": k, **h.to_json()} for k, h in self.found],
            "missing": list(self.missing),
        }


@dataclass(frozen=True)
class Verdict:
    """One required statement of a step."""

    key: str
    name: str
    where: str
    status: Status
    heard: Heard | None
    message: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "statement": self.key,
            "name": self.name,
            "where": self.where,
            "status": self.status,
            "heard": self.heard.to_json() if self.heard else None,
            "message": self.message,
        }


@dataclass(frozen=True)
class StepSpeech:
    verdicts: tuple[Verdict, ...] = ()
    recordings: tuple[RecordingCheck, ...] = ()
    flags: tuple[LanguageFlag, ...] = ()

    @property
    def issues(self) -> tuple[str, ...]:
        return tuple(v.message for v in self.verdicts if v.message and v.status != "found")

    @property
    def missing(self) -> int:
        return sum(1 for v in self.verdicts if v.status in ("missing", "late"))


# --- one step -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    speech: Speech
    heard: Heard
    timely: bool


def _candidate(
    speech: Speech, rule: StatementRule, reference: datetime | None
) -> _Candidate | None:
    phrases = _phrases(rule)
    hits = speech.hear(rule.key, phrases, rule.min_score)
    if not hits:
        return None
    first = heard(speech, *hits[0])
    if rule.where != "start":
        return _Candidate(speech, first, True)
    for voice, m in hits:  # the earliest that is in time, else the earliest
        h = heard(speech, voice, m)
        if h.at is not None and reference is not None:
            timely = h.at <= reference + timedelta(seconds=rule.within_s)
        else:
            timely = h.start_s - max(0.0, speech.lo_s) <= rule.within_s
        if timely:
            return _Candidate(speech, h, True)
    return _Candidate(speech, first, False)


def check_step(
    step: StepWindow, rule: KindRule, speeches: Sequence[Speech], checklist: Checklist
) -> StepSpeech:
    """The required statements and uncivil expressions of one step."""
    checked = [s for s in speeches if s.voices is not None]
    flags = tuple(f for s in checked for f in flags_in(s, checklist.language_rules))
    if not rule.statements or not speeches:
        return StepSpeech(flags=flags)
    starts = [s.at(max(0.0, s.lo_s)) for s in speeches]
    timed = [as_utc(t) for t in starts if t is not None]
    reference = max(step.start, min(timed)) if timed else None
    unchecked = [s.label for s in speeches if s.voices is None]
    pending = f" ({', '.join(unchecked)} not transcribed yet)" if unchecked else ""
    searched = ", ".join(s.label for s in checked)

    verdicts: list[Verdict] = []
    per_rec: dict[str, list[tuple[str, Heard]]] = {s.recording_id: [] for s in checked}
    for st in rule.statements:
        found = [c for s in checked if (c := _candidate(s, st, reference)) is not None]
        for c in found:
            per_rec[c.speech.recording_id].append((st.key, c.heard))
        timely = [c for c in found if c.timely]
        if not checked:
            verdicts.append(Verdict(st.key, st.name, st.where, "unchecked", None, None))
        elif timely:
            best = min(timely, key=_order)
            verdicts.append(Verdict(st.key, st.name, st.where, "found", best.heard, None))
        elif found:
            best = min(found, key=_order)
            if best.heard.at is not None:
                when = f"at {hms(best.heard.at, same_day_as=step.start)} in {best.speech.label}"
            else:
                when = f"{best.heard.start_s:.0f} s into {best.speech.label}"
            message = (
                f"{st.name} only {when}, not within {st.within_s:g} s of the start of "
                f"{rule.name}{pending}"
            )
            verdicts.append(Verdict(st.key, st.name, st.where, "late", best.heard, message))
        else:
            message = f"no statement of {st.name} in {searched} during {rule.name}{pending}"
            verdicts.append(Verdict(st.key, st.name, st.where, "missing", None, message))
    recordings = tuple(
        RecordingCheck(
            s.recording_id,
            s.name,
            s.voices is not None,
            s.note,
            tuple(per_rec.get(s.recording_id, [])),
            tuple(
                st.key
                for st in rule.statements
                if s.voices is not None and st.key not in {k for k, _ in per_rec[s.recording_id]}
            ),
        )
        for s in speeches
    )
    return StepSpeech(tuple(verdicts), recordings, flags)


def _order(c: _Candidate) -> tuple[float, float]:
    at = c.heard.at.timestamp() if c.heard.at is not None else math.inf
    return at, c.heard.start_s


_COMPILED: dict[tuple[str, ...], tuple[Phrase, ...]] = {}


def _phrases(rule: StatementRule) -> tuple[Phrase, ...]:
    compiled = _COMPILED.get(rule.phrases)
    if compiled is None:
        compiled = tuple(p for t in rule.phrases if (p := compile_phrase(t)) is not None)
        _COMPILED[rule.phrases] = compiled
    return compiled


# --- database side ----------------------------------------------------------------------


def check_steps(
    session: Session,
    steps: Sequence[StepWindow],
    pieces: dict[int, list[LinkedPiece]],
    checklist: Checklist,
) -> dict[int, StepSpeech]:
    """Per step id: its required statements and flagged expressions."""
    cache: dict[str, Any] = {}
    out: dict[int, StepSpeech] = {}
    wants_flags = bool(checklist.language_rules)
    for step in steps:
        rule = checklist.rule(step.kind)
        linked = pieces.get(step.step_id, [])
        if not linked or not (rule.statements or wants_flags):
            continue
        speeches: dict[str, Speech] = {}
        for piece in linked:
            rec = session.get(Recording, piece.recording_id)
            if rec is None or rec.media_kind not in ("video", "audio"):
                continue
            sp = speech_of(session, rec, piece, checklist.drift_tolerance_s, cache)
            if rec.id in speeches:  # linked twice to one step: search both parts
                sp.lo_s = min(sp.lo_s, speeches[rec.id].lo_s)
                sp.hi_s = max(sp.hi_s, speeches[rec.id].hi_s)
            speeches[rec.id] = sp
        out[step.step_id] = check_step(step, rule, list(speeches.values()), checklist)
    return out
