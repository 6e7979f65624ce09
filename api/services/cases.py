"""Cases as domain operations over `Services`: import, links, suggestions, the case view,
compliance and statistics. The CLI (`custos case ...`, `custos stats`) and the HTTP routes
call these; neither opens an ORM session of its own.

Each function opens and commits its own session, so a CLI command or a request is one
unit of work; refusals surface as `CasesError` / `StorageError` for the caller to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.compliance import CaseCompliance, case_compliance, case_to_json
from cases.errors import CasesError
from cases.importer import ImportReport, import_file
from cases.kinds import Checklist, load_checklist
from cases.links import decide, link_manual, resolve_range, suggest
from cases.repo import case_steps, find_case, find_step
from cases.stats import Statistics, StatsQuery, compute
from cases.tables import Case, Link, Step
from cases.times import iso
from storage import lookup
from storage.db.schema import Recording
from storage.services import Services


def checklist(svc: Services, path: Path | None = None) -> Checklist:
    """The checklist in force: `path`, else DATA_DIR/checklist.yaml, else the built-in."""
    return load_checklist(path, svc.settings.data_dir)


def import_cases(svc: Services, file: Path, rules: Checklist) -> list[ImportReport]:
    with svc.db.session() as session:
        return import_file(session, file, rules, actor=svc.actor, ledger=svc.ledger)


@dataclass(frozen=True)
class LinkMade:
    link_id: int
    recording_id: str
    recording_name: str
    step_key: str
    start: datetime | None
    end: datetime | None
    trimmed: str  # what was cut from the asked range to fit the recording ('' if nothing)


def link_recording(
    svc: Services,
    recording: str,
    step: str,
    *,
    case_no: str | None,
    start: str | None,
    end: str | None,
    proves: str | None,
    rules: Checklist,
) -> LinkMade:
    """Link (part of) `recording` to `step`, confirmed by the acting user (ledgered)."""
    with svc.db.session() as session:
        rec = lookup.find_recording(session, recording)
        target = find_step(session, step, case_no or rec.case_no)
        lo, hi = resolve_range(rec, start, end)
        link = link_manual(
            session,
            rec,
            target,
            start=lo,
            end=hi,
            proves=proves,
            actor=svc.actor,
            checklist=rules,
            ledger=svc.ledger,
        )
        return LinkMade(
            link_id=link.id,
            recording_id=rec.id,
            recording_name=rec.original_name,
            step_key=target.key,
            start=link.range_start,
            end=link.range_end,
            trimmed=trimmed_text(lo, hi, link.range_start, link.range_end),
        )


def suggest_links(svc: Services, case_no: str, rules: Checklist) -> list[dict[str, Any]]:
    """New and still-pending link suggestions for the case, as rows."""
    with svc.db.session() as session:
        case = find_case(session, case_no)
        made = suggest(session, case, rules, actor=svc.actor, ledger=svc.ledger)
        names = recording_names(session, [m.recording_id for m in made])
    return [
        {
            "link": m.link_id,
            "step": m.step_key,
            "recording": m.recording_id,
            "name": names.get(m.recording_id, ""),
            "from": iso(m.range_start),
            "to": iso(m.range_end),
            "basis": m.basis,
            "pending_before": m.pending_before,
        }
        for m in made
    ]


def decide_links(svc: Services, link_ids: list[int], *, accept: bool) -> list[int]:
    """Confirm or reject suggested links; the ids decided."""
    with svc.db.session() as session:
        done = decide(session, link_ids, accept=accept, actor=svc.actor, ledger=svc.ledger)
        return [link.id for link in done]


def link_case_no(svc: Services, link_id: int) -> str | None:
    """The case a link belongs to (None for an unknown link): for access checks."""
    with svc.db.session() as session:
        row = session.execute(
            select(Step.case_id).join(Link, Link.step_id == Step.id).where(Link.id == link_id)
        ).first()
        if row is None:
            return None
        case = session.get(Case, row[0])
        return case.case_no if case is not None else None


def compliance_report(
    svc: Services, case_no: str, rules: Checklist, *, include_suggested: bool = False
) -> CaseCompliance:
    with svc.db.session() as session:
        return case_compliance(session, case_no, rules, include_suggested=include_suggested)


def compliance(svc: Services, case_no: str) -> dict[str, Any]:
    """The case's computed compliance as JSON (CasesError for an unknown case)."""
    return case_to_json(compliance_report(svc, case_no, checklist(svc)))


@dataclass(frozen=True)
class CaseView:
    header: dict[str, Any]
    report: CaseCompliance
    links: list[dict[str, Any]]
    unlinked_names: dict[str, str]  # recording id -> original name

    def to_json(self) -> dict[str, Any]:
        return {**self.header, "compliance": case_to_json(self.report), "links": self.links}


def case_view(
    svc: Services, case_no: str, rules: Checklist, *, include_suggested: bool = False
) -> CaseView:
    """The case, its steps with their lights, its links and recordings without a step."""
    with svc.db.session() as session:
        case = find_case(session, case_no)
        report = case_compliance(session, case_no, rules, include_suggested=include_suggested)
        header = {
            "case_no": case.case_no,
            "title": case.title,
            "unit": case.unit,
            "type": case.case_type,
            "status": case.status,
            "opened_at": iso(case.opened_at),
            "closed_at": iso(case.closed_at),
            "reason_required": requires_reason(case),
        }
        return CaseView(
            header=header,
            report=report,
            links=case_links(session, case.id),
            unlinked_names=recording_names(session, list(report.unlinked_recordings)),
        )


def steps(svc: Services, case_no: str) -> list[dict[str, Any]]:
    """The case's steps in time order, as rows."""
    with svc.db.session() as session:
        case = find_case(session, case_no)
        return [
            {
                "id": s.id,
                "key": s.key,
                "kind": s.kind,
                "title": s.title,
                "start": iso(s.start_at),
                "end": iso(s.end_at),
                "officers": s.officers,
                "devices": s.devices,
                "place": s.place,
            }
            for s in case_steps(session, case)
        ]


def requires_reason(case: Case) -> bool:
    """Whether viewing this case's recordings needs a stated reason first."""
    return bool((case.extra or {}).get("reason_required"))


def set_reason_required(svc: Services, case_no: str, *, on: bool) -> None:
    """Turn the case's "reason required before viewing" flag on or off (ledgered)."""
    with svc.db.session() as session:
        case = find_case(session, case_no)
        if requires_reason(case) == on:
            return
        # JSON columns are compared by identity: assign a new dict so the change is saved.
        case.extra = {**(case.extra or {}), "reason_required": on}
        svc.ledger.append(
            session,
            actor=svc.actor,
            action="case.reason_required",
            subject=case_no,
            details={"case": case_no, "on": on},
        )


def case_requires_reason(svc: Services, case_no: str) -> bool:
    with svc.db.session() as session:
        case = session.scalars(select(Case).where(Case.case_no == case_no)).first()
        return case is not None and requires_reason(case)


def statistics(svc: Services, query: StatsQuery, rules: Checklist) -> Statistics:
    if query.end <= query.start:
        raise CasesError("the end of the period must be after its start")
    with svc.db.session() as session:
        return compute(session, query, rules)


def trimmed_text(
    lo: datetime | None, hi: datetime | None, start: datetime | None, end: datetime | None
) -> str:
    """What was cut from the asked range to fit the recording ('' when nothing)."""
    cut: list[str] = []
    if lo is not None and start is not None and lo < start:
        cut.append(f"--from {iso(lo)} -> {iso(start)} (the recording starts then)")
    if hi is not None and end is not None and hi > end:
        cut.append(f"--to {iso(hi)} -> {iso(end)} (the recording ends then)")
    return "; ".join(cut)


def recording_names(session: Session, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(Recording.id, Recording.original_name).where(Recording.id.in_(ids))
    )
    return {rec_id: name for rec_id, name in rows}


def case_links(session: Session, case_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Link, Step.key, Recording.original_name)
        .join(Step, Step.id == Link.step_id)
        .join(Recording, Recording.id == Link.recording_id)
        .where(Step.case_id == case_id)
        .order_by(Step.start_at, Link.range_start, Link.id)
    )
    return [
        {
            "link": link.id,
            "step": key,
            "recording_id": link.recording_id,
            "recording": name,
            "from": iso(link.range_start),
            "to": iso(link.range_end),
            "proves": link.proves,
            "status": link.status,
            "by": link.decided_by or link.created_by,
        }
        for link, key, name in rows
    ]


def case_summaries(svc: Services, case_numbers: list[str]) -> list[dict[str, Any]]:
    """A line per case for lists: number, title, unit, status, opened (cases known only
    from a recording's case number get the number alone)."""
    with svc.db.session() as session:
        rows = {c.case_no: c for c in session.scalars(select(Case).where(
            Case.case_no.in_(case_numbers)))}  # fmt: skip
    out: list[dict[str, Any]] = []
    for no in case_numbers:
        c = rows.get(no)
        if c is None:
            out.append({"case_no": no, "title": "", "unit": None, "status": "", "opened_at": None})
            continue
        out.append({"case_no": no, "title": c.title, "unit": c.unit, "status": c.status,
                    "opened_at": iso(c.opened_at)})  # fmt: skip
    return out
