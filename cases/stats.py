"""Statistics for a period, optionally one unit or one officer.

What is counted (the period is half-open, [from, to)):
- cases: opened in the period; with `unit`, of that unit; with `officer`, the officer
  is named on one of the case's steps. A case's light is the worst of all its steps.
- steps: started in the period; `unit` as above; with `officer`, the officer is named
  on the step. Required steps are `full` or `key_moments`; the compliance rate is the
  share of required steps that are green; a step is covered when a confirmed link puts
  a recording in its window.
- recordings: captured in the period (upload time when the capture time is unknown);
  with `unit`, tagged with or linked (confirmed) to a case of that unit; with `officer`,
  collected by the officer. Hours sum their durations; capture-to-upload is
  ingested_at - capture_start for those with a capture time. Written records attached
  to steps are documents, not recordings, and are not counted here.
- what was said: required statements missing (or only late) on the steps counted, per
  unit and per officer named on the step (each officer of the step is counted), with
  the uncivil expressions flagged and the written records that steps lack; counts only,
  never the words.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.compliance import StepCompliance, steps_compliance, worst
from cases.kinds import Checklist
from cases.records import written_recording_ids
from cases.tables import LINK_CONFIRMED, Case, Link, Step
from cases.times import as_utc, iso
from storage.db.schema import Recording

LIGHTS = ("green", "yellow", "red")


@dataclass(frozen=True)
class StatsQuery:
    start: datetime
    end: datetime
    unit: str | None = None
    officer: str | None = None


@dataclass
class Statistics:
    query: StatsQuery
    summary: dict[str, Any]
    monthly: list[dict[str, Any]]
    by_unit: list[dict[str, Any]]
    by_kind: list[dict[str, Any]]
    upload_delays_s: list[float] = field(default_factory=list)


def months(start: datetime, end: datetime) -> list[str]:
    """`YYYY-MM` of every month that [start, end) touches."""
    keys: list[str] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        key = f"{year:04d}-{month:02d}"
        if datetime(year, month, 1, tzinfo=start.tzinfo) < end:
            keys.append(key)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys


def _month(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m")


def _rate(green: int, required: int) -> float | None:
    return round(green / required, 4) if required else None


def _delays(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"count": 0, "mean_h": None, "median_h": None, "p90_h": None, "max_h": None}
    arr = np.asarray(values, dtype=float) / 3600.0
    return {
        "count": len(values),
        "mean_h": round(float(arr.mean()), 4),
        "median_h": round(float(np.percentile(arr, 50)), 4),
        "p90_h": round(float(np.percentile(arr, 90)), 4),
        "max_h": round(float(arr.max()), 4),
    }


def compute(session: Session, query: StatsQuery, checklist: Checklist) -> Statistics:
    start, end = as_utc(query.start), as_utc(query.end)
    units = dict(session.execute(select(Case.id, Case.unit)).all())

    # -- cases and steps ------------------------------------------------------------
    case_q = select(Case).where(Case.opened_at >= start, Case.opened_at < end)
    if query.unit is not None:
        case_q = case_q.where(Case.unit == query.unit)
    cases = list(session.scalars(case_q.order_by(Case.opened_at)))
    case_steps: dict[int, list[Step]] = {c.id: [] for c in cases}
    for step in session.scalars(select(Step).where(Step.case_id.in_(list(case_steps) or [-1]))):
        case_steps[step.case_id].append(step)
    if query.officer is not None:
        cases = [
            c for c in cases if any(query.officer in (s.officers or []) for s in case_steps[c.id])
        ]

    step_q = (
        select(Step)
        .join(Case, Case.id == Step.case_id)
        .where(Step.start_at >= start, Step.start_at < end)
    )
    if query.unit is not None:
        step_q = step_q.where(Case.unit == query.unit)
    steps = list(session.scalars(step_q.order_by(Step.start_at)))
    if query.officer is not None:
        steps = [s for s in steps if query.officer in (s.officers or [])]

    wanted = {s.id: s for s in steps}
    for c in cases:
        wanted.update({s.id: s for s in case_steps[c.id]})
    verdicts = {v.step_id: v for v in steps_compliance(session, list(wanted.values()), checklist)}
    step_views = [verdicts[s.id] for s in steps]
    case_lights = {
        c.id: worst([verdicts[s.id].light for s in case_steps[c.id]] or ["yellow"]) for c in cases
    }

    # -- recordings -------------------------------------------------------------------
    when = func.coalesce(Recording.capture_start, Recording.ingested_at)
    rec_q = select(Recording).where(when >= start, when < end)
    if query.officer is not None:
        rec_q = rec_q.where(Recording.collector == query.officer)
    documents = written_recording_ids(session)
    recordings = [r for r in session.scalars(rec_q) if r.id not in documents]
    if query.unit is not None:
        recordings = _of_unit(session, recordings, query.unit, units)

    return _assemble(query, cases, case_lights, steps, step_views, recordings, units, checklist)


def _of_unit(
    session: Session, recordings: list[Recording], unit: str, units: dict[int, str | None]
) -> list[Recording]:
    case_units = dict(session.execute(select(Case.case_no, Case.unit)).all())
    linked: dict[str, set[str | None]] = {}
    ids = [r.id for r in recordings]
    for offset in range(0, len(ids), 500):
        rows = session.execute(
            select(Link.recording_id, Step.case_id)
            .join(Step, Step.id == Link.step_id)
            .where(Link.status == LINK_CONFIRMED, Link.recording_id.in_(ids[offset : offset + 500]))
        )
        for rec_id, case_id in rows:
            linked.setdefault(rec_id, set()).add(units.get(case_id))
    return [
        r
        for r in recordings
        if (r.case_no is not None and case_units.get(r.case_no) == unit)
        or unit in linked.get(r.id, set())
    ]


def _assemble(
    query: StatsQuery,
    cases: list[Case],
    case_lights: Mapping[int, str],
    steps: list[Step],
    views: list[StepCompliance],
    recordings: list[Recording],
    units: dict[int, str | None],
    checklist: Checklist,
) -> Statistics:
    required = [v for v in views if v.requirement in ("full", "key_moments")]
    green_required = sum(1 for v in required if v.light == "green")
    delays = [
        (as_utc(r.ingested_at) - as_utc(r.capture_start)).total_seconds()
        for r in recordings
        if r.capture_start is not None
    ]
    hours = sum(r.duration_s or 0.0 for r in recordings) / 3600.0
    step_lights: Counter[str] = Counter(v.light for v in views)
    summary: dict[str, Any] = {
        "from": iso(query.start),
        "to": iso(query.end),
        "unit": query.unit,
        "officer": query.officer,
        "cases": len(cases),
        "cases_by_light": {k: sum(1 for c in cases if case_lights[c.id] == k) for k in LIGHTS},
        "steps": len(views),
        "steps_required": len(required),
        "steps_covered": sum(1 for v in views if v.recorded),
        "steps_by_light": {k: step_lights.get(k, 0) for k in LIGHTS},
        "compliance_rate": _rate(green_required, len(required)),
        "recordings": len(recordings),
        "hours": round(hours, 4),
        "recordings_incomplete": sum(1 for r in recordings if r.incomplete),
        "capture_to_upload": _delays(delays),
        "checklist": checklist.source,
        **_speech_counts(steps, views),
    }

    monthly = {m: _month_row(m) for m in months(as_utc(query.start), as_utc(query.end))}
    for c in cases:
        monthly[_month(c.opened_at)]["cases"] += 1
    for r in recordings:
        row = monthly[_month(r.capture_start or r.ingested_at)]
        row["recordings"] += 1
        row["hours"] += (r.duration_s or 0.0) / 3600.0
        row["incomplete"] += int(r.incomplete)
    for s, v in zip(steps, views, strict=True):
        row = monthly[_month(s.start_at)]
        row["steps"] += 1
        row[v.light] += 1
    for row in monthly.values():
        row["hours"] = round(row["hours"], 4)

    by_unit: dict[str, dict[str, Any]] = {}
    for c in cases:
        row = by_unit.setdefault(c.unit or "", _unit_row(c.unit or ""))
        row["cases"] += 1
    for s, v in zip(steps, views, strict=True):
        unit_name = units.get(s.case_id) or ""
        row = by_unit.setdefault(unit_name, _unit_row(unit_name))
        row["steps"] += 1
        row[v.light] += 1
        if v.requirement in ("full", "key_moments"):
            row["steps_required"] += 1
            row["required_green"] += int(v.light == "green")
        row["statements_missing"] += v.speech.missing if v.speech else 0
        row["language_flags"] += len(v.speech.flags) if v.speech else 0
        row["written_records_missing"] += len(v.written_missing)
    for row in by_unit.values():
        row["compliance_rate"] = _rate(row["required_green"], row["steps_required"])

    by_kind: dict[str, dict[str, Any]] = {}
    for v in views:
        row = by_kind.setdefault(v.kind, _kind_row(v))
        row["steps"] += 1
        row["covered"] += int(v.recorded)
        row[v.light] += 1

    return Statistics(
        query=query,
        summary=summary,
        monthly=list(monthly.values()),
        by_unit=[by_unit[k] for k in sorted(by_unit)],
        by_kind=[by_kind[k] for k in sorted(by_kind)],
        upload_delays_s=delays,
    )


def _month_row(month: str) -> dict[str, Any]:
    row: dict[str, Any] = {"month": month, "cases": 0, "recordings": 0, "hours": 0.0}
    row.update({"incomplete": 0, "steps": 0})
    row.update({k: 0 for k in LIGHTS})
    return row


def _unit_row(unit: str) -> dict[str, Any]:
    row: dict[str, Any] = {"unit": unit, "cases": 0, "steps": 0, "steps_required": 0}
    row.update({"required_green": 0})
    row.update({k: 0 for k in LIGHTS})
    row.update({"statements_missing": 0, "language_flags": 0, "written_records_missing": 0})
    return row


def _speech_counts(steps: list[Step], views: list[StepCompliance]) -> dict[str, Any]:
    """Missing statements, language flags and missing written records: in all, and per
    officer named on the step."""
    missing: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    for s, v in zip(steps, views, strict=True):
        for officer in dict.fromkeys(str(o) for o in s.officers or []):
            missing[officer] += v.speech.missing if v.speech else 0
            flags[officer] += len(v.speech.flags) if v.speech else 0
    return {
        "statements_missing": sum(v.speech.missing for v in views if v.speech),
        "steps_missing_statements": sum(1 for v in views if v.speech and v.speech.missing),
        "language_flags": sum(len(v.speech.flags) for v in views if v.speech),
        "written_records_missing": sum(len(v.written_missing) for v in views),
        "statements_missing_by_officer": {k: missing[k] for k in sorted(missing) if missing[k]},
        "language_flags_by_officer": {k: flags[k] for k in sorted(flags) if flags[k]},
    }


def _kind_row(view: StepCompliance) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": view.kind, "name": view.kind_name}
    row.update({"requirement": view.requirement, "steps": 0, "covered": 0})
    row.update({k: 0 for k in LIGHTS})
    return row
