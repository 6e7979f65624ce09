"""Builders for case tests: recordings inserted directly, cases and steps, a checklist."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cases.kinds import Checklist, load_checklist
from cases.tables import CASE_CLOSED, CASE_OPEN, Case, Step
from storage.db.schema import Recording
from storage.objects import ObjectStore
from tests.factories import make_recording

T0 = datetime(2024, 5, 14, 14, 0, 0, tzinfo=UTC)


def at(hh: int, mm: int, ss: int = 0, day: datetime = T0) -> datetime:
    return day.replace(hour=hh, minute=mm, second=ss, microsecond=0)


def checklist(tolerance: float = 5.0) -> Checklist:
    base = load_checklist()
    return Checklist(
        kinds=base.kinds,
        drift_tolerance_s=tolerance,
        required_metadata=base.required_metadata,
        source="test",
    )


def add_recording(
    session: Session,
    *,
    start: datetime | None,
    seconds: float | None,
    device: str | None = "DSJ-01",
    collector: str | None = "officer-a",
    case_no: str | None = None,
    name: str | None = None,
    incomplete: bool = False,
    missing: list[str] | None = None,
    ingested_at: datetime | None = None,
    proves: str | None = None,
    location: str | None = "street",
    store: ObjectStore | None = None,
    step: str | None = None,
) -> Recording:
    """A recording row; with `store`, backed by a small real original."""
    rec_id = str(uuid.uuid4())
    rec = make_recording(
        store,
        f"recording {rec_id}".encode(),
        id=rec_id,
        original_name=name or f"{device or 'unknown'}_{rec_id[:8]}.mp4",
        duration_s=seconds,
        capture_start=start,
        capture_time_source="container" if start else None,
        device_id=device,
        case_no=case_no,
        step=step,
        collector=collector,
        location=location,
        proves=proves,
        incomplete=incomplete or bool(missing),
        missing_fields=list(missing or []),
        ingested_at=ingested_at or (start or T0) + timedelta(hours=2),
        ingested_by="tech",
    )
    session.add(rec)
    session.flush()
    return rec


def add_case(
    session: Session,
    case_no: str,
    *,
    opened: datetime = T0,
    unit: str | None = "unit-1",
    closed: datetime | None = None,
    title: str = "",
) -> Case:
    case = Case(
        case_no=case_no,
        title=title or f"case {case_no}",
        unit=unit,
        case_type="administrative",
        status=CASE_CLOSED if closed else CASE_OPEN,
        opened_at=opened,
        closed_at=closed,
        created_at=opened,
        created_by="tester",
        extra={},
    )
    session.add(case)
    session.flush()
    return case


def add_step(
    session: Session,
    case: Case,
    key: str,
    kind: str,
    start: datetime,
    end: datetime | None,
    **extra: Any,
) -> Step:
    step = Step(
        case_id=case.id,
        key=key,
        kind=kind,
        title=extra.pop("title", ""),
        start_at=start,
        end_at=end,
        place=extra.pop("place", None),
        officers=list(extra.pop("officers", [])),
        devices=list(extra.pop("devices", [])),
    )
    assert not extra, f"unknown step fields {extra}"
    session.add(step)
    session.flush()
    return step
