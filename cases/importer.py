"""Import cases from YAML or JSON: the case, its steps and links to recordings.

One YAML document (or one JSON object) per case; a YAML file may hold several
documents separated by `---`. Importing again updates the case and its steps by
key, so a corrected file can simply be imported once more.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.errors import CaseFileError, CasesError
from cases.kinds import Checklist
from cases.links import link_manual, resolve_range
from cases.repo import find_recording
from cases.tables import CASE_CLOSED, CASE_OPEN, LINK_SUGGESTED, Case, Link, Step
from cases.times import parse_offset, parse_time
from storage.db.schema import Recording
from storage.ledger import Ledger

TimeValue = datetime | date | str


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CaseSpec(_Spec):
    case_no: str = Field(min_length=1, max_length=128)
    title: str = ""
    unit: str | None = None
    type: str | None = None
    status: Literal["open", "closed"] | None = None
    opened_at: TimeValue | None = None
    closed_at: TimeValue | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class StepSpec(_Spec):
    key: str = Field(min_length=1, max_length=64)
    kind: str
    title: str = ""
    start: TimeValue
    end: TimeValue | None = None
    place: str | None = None
    officers: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)


class LinkSpec(_Spec):
    recording: str
    step: str
    start: float | TimeValue | None = Field(default=None, alias="from")
    end: float | TimeValue | None = Field(default=None, alias="to")
    proves: str | None = None
    status: Literal["confirmed", "suggested"] = "confirmed"


class CaseDocument(_Spec):
    timezone: str | None = None  # zone for times written without an offset
    case: CaseSpec
    steps: list[StepSpec] = Field(default_factory=list)
    links: list[LinkSpec] = Field(default_factory=list)


@dataclass
class ImportReport:
    case_no: str
    created: bool
    steps_added: list[str] = field(default_factory=list)
    steps_updated: list[str] = field(default_factory=list)
    links: list[int] = field(default_factory=list)


def read_documents(path: Path) -> list[CaseDocument]:
    """Parse and validate a case file; nothing touches the database yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CaseFileError(f"cannot read {path}: {exc}") from exc
    except UnicodeDecodeError as exc:  # found by fuzz/fuzz_case_import.py
        raise CaseFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
    try:
        if path.suffix.lower() == ".json":
            loaded = json.loads(text)
            raw = loaded if isinstance(loaded, list) else [loaded]
        else:
            raw = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise CaseFileError(f"{path}: not valid {kind}: {exc}") from exc
    except RecursionError as exc:  # "[[[[..." thousands deep
        raise CaseFileError(f"{path}: {kind} nested too deeply") from exc
    if not _small_enough(raw, MAX_NODES):
        # YAML aliases make a few hundred bytes expand to billions of values ("billion
        # laughs"); a case file is a few hundred values, not hundreds of thousands.
        raise CaseFileError(f"{path}: more than {MAX_NODES} values once YAML aliases are expanded")
    if not raw:
        raise CaseFileError(f"{path}: no case in the file")
    docs: list[CaseDocument] = []
    for number, item in enumerate(raw, 1):
        try:
            docs.append(CaseDocument.model_validate(item))
        except ValidationError as exc:
            raise CaseFileError(f"{path}: case {number}: {_explain(exc)}") from exc
    return docs


MAX_NODES = 200_000


def _small_enough(value: object, limit: int) -> bool:
    """Whether `value` holds at most `limit` values, counting shared ones each time seen;
    stops counting as soon as the limit is passed."""
    stack = [value]
    seen = 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > limit:
            return False
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set):
            stack.extend(item)
    return True


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _time(value: TimeValue | None, zone: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value, zone=zone)
    except CasesError as exc:
        raise CaseFileError(f"{what}: {exc}") from exc


def import_document(
    session: Session,
    doc: CaseDocument,
    checklist: Checklist,
    *,
    actor: str,
    ledger: Ledger | None = None,
    source_digest: str | None = None,
    now: datetime | None = None,
) -> ImportReport:
    now = now or datetime.now(UTC)
    zone = doc.timezone
    spec = doc.case
    step_times = {
        s.key: (
            _time(s.start, zone, f"step {s.key} start"),
            _time(s.end, zone, f"step {s.key} end"),
        )
        for s in doc.steps
    }
    if len(step_times) != len(doc.steps):
        raise CaseFileError(f"case {spec.case_no}: step keys must be unique")
    opened = _time(spec.opened_at, zone, "opened_at") or min(
        (t[0] for t in step_times.values() if t[0] is not None), default=None
    )
    closed = _time(spec.closed_at, zone, "closed_at")

    case = session.scalar(select(Case).where(Case.case_no == spec.case_no))
    report = ImportReport(spec.case_no, created=case is None)
    if case is None:
        if opened is None:
            raise CaseFileError(f"case {spec.case_no}: give opened_at or at least one step")
        case = Case(case_no=spec.case_no, created_at=now, created_by=actor, opened_at=opened)
        session.add(case)
    fields = spec.model_fields_set
    if "title" in fields or report.created:
        case.title = spec.title
    if "unit" in fields or report.created:
        case.unit = spec.unit
    if "type" in fields or report.created:
        case.case_type = spec.type
    if "extra" in fields or report.created:
        case.extra = dict(spec.extra)
    if opened is not None and ("opened_at" in fields or report.created):
        case.opened_at = opened
    if "closed_at" in fields or report.created:
        case.closed_at = closed
    case.status = spec.status or (CASE_CLOSED if case.closed_at is not None else CASE_OPEN)
    session.flush()

    existing = {s.key: s for s in session.scalars(select(Step).where(Step.case_id == case.id))}
    for s in doc.steps:
        start, end = step_times[s.key]
        assert start is not None  # a required field
        if end is not None and end < start:
            raise CaseFileError(f"case {spec.case_no}: step {s.key} ends before it starts")
        kind = checklist.resolve(s.kind)
        step = existing.get(s.key)
        if step is None:
            step = Step(case_id=case.id, key=s.key)
            session.add(step)
            existing[s.key] = step
            report.steps_added.append(s.key)
        else:
            report.steps_updated.append(s.key)
        step.kind, step.title, step.start_at, step.end_at = kind, s.title, start, end
        step.place, step.officers, step.devices = s.place, list(s.officers), list(s.devices)
    session.flush()

    for spec_link in doc.links:
        step = existing.get(spec_link.step)
        if step is None:
            raise CaseFileError(f"case {spec.case_no}: link names unknown step {spec_link.step!r}")
        rec = find_recording(session, spec_link.recording)
        start, end = _link_range(rec, spec_link, zone)
        if spec_link.status == LINK_SUGGESTED:
            link = Link(
                recording_id=rec.id,
                step_id=step.id,
                range_start=start,
                range_end=end,
                proves=spec_link.proves,
                status=LINK_SUGGESTED,
                basis={"imported": True},
                created_at=now,
                created_by=actor,
            )
            session.add(link)
            session.flush()
        else:
            link = link_manual(
                session,
                rec,
                step,
                start=start,
                end=end,
                proves=spec_link.proves,
                actor=actor,
                checklist=checklist,
                ledger=None,
                now=now,
            )
        report.links.append(link.id)

    if ledger is not None:
        ledger.append(
            session,
            actor=actor,
            action="case.imported",
            subject=f"case:{case.case_no}",
            details={
                "created": report.created,
                "steps_added": report.steps_added,
                "steps_updated": report.steps_updated,
                "links": report.links,
                "source_sha256": source_digest,
            },
        )
    return report


def _link_range(
    rec: Recording, spec: LinkSpec, zone: str | None
) -> tuple[datetime | None, datetime | None]:
    def text(value: float | str | TimeValue | None) -> str | None:
        if value is None:
            return None
        if isinstance(value, int | float):
            return str(value)  # seconds into the recording (YAML reads 1:30 as 90)
        if isinstance(value, str) and parse_offset(value) is not None:
            return value
        return parse_time(value, zone=zone).isoformat()

    try:
        return resolve_range(rec, text(spec.start), text(spec.end))
    except CasesError as exc:
        raise CaseFileError(f"link {spec.recording} -> {spec.step}: {exc}") from exc


def import_file(
    session: Session,
    path: Path,
    checklist: Checklist,
    *,
    actor: str,
    ledger: Ledger | None = None,
) -> list[ImportReport]:
    docs = read_documents(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return [
        import_document(session, doc, checklist, actor=actor, ledger=ledger, source_digest=digest)
        for doc in docs
    ]
