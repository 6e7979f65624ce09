"""Importing a case file (YAML or JSON) with its steps and links."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from cases.compliance import case_compliance
from cases.errors import CaseFileError, ConfigFileError
from cases.importer import import_file
from cases.repo import case_steps, find_case
from cases.tables import Link
from cases.times import as_utc
from storage.db.schema import LedgerEvent
from storage.services import Services
from tests.cases.case_factory import add_recording, at, checklist

RULES = checklist(tolerance=5)

CASE_YAML = """
timezone: Asia/Shanghai     # times below without an offset are Beijing time
case:
  case_no: "XZ-2024-0042"
  title: Unlicensed street stall
  unit: market-supervision-3
  type: administrative penalty
  opened_at: 2024-05-14T08:00:00+08:00
steps:
  - key: S1
    kind: 立案
    start: 2024-05-14 08:30:00
    end: 2024-05-14 08:40:00
  - key: S2
    kind: 查封扣押               # an alias of `seizure`
    title: seizure of goods
    start: 2024-05-14T22:00:00+08:00
    end: 2024-05-14T22:30:00+08:00
    place: No. 5 Market Street
    officers: [wang, li]
    devices: [DSJ-01]
links:
  - recording: DSJ-01_0001.mp4
    step: S2
    proves: goods listed and sealed
  - recording: DSJ-02_0002.mp4
    step: S2
    from: 0:00:30
    to: 2024-05-14 22:20:00
    proves: inventory read aloud
"""


def _recordings(svc: Services) -> None:
    with svc.db.session() as s:
        add_recording(s, start=at(14, 0), seconds=600, name="DSJ-01_0001.mp4")
        add_recording(s, start=at(14, 5), seconds=1500, name="DSJ-02_0002.mp4")


def test_import_yaml_with_alias_kinds_zone_and_offsets(svc: Services, tmp_path: Path) -> None:
    _recordings(svc)
    path = tmp_path / "case.yaml"
    path.write_text(CASE_YAML, encoding="utf-8")
    with svc.db.session() as s:
        (report,) = import_file(s, path, RULES, actor="clerk", ledger=svc.ledger)
    assert report.created and report.steps_added == ["S1", "S2"] and len(report.links) == 2
    with svc.db.session() as s:
        case = find_case(s, "XZ-2024-0042")
        steps = {st.key: st for st in case_steps(s, case)}
        assert steps["S1"].kind == "initiation" and steps["S2"].kind == "seizure"
        assert steps["S2"].officers == ["wang", "li"]
        links = list(s.scalars(select(Link).order_by(Link.id)))
        assert [(lk.status, lk.created_by) for lk in links] == [("confirmed", "clerk")] * 2
        # 0:00:30 into a recording that starts 14:05:00 UTC; 22:20 Beijing is 14:20 UTC.
        assert links[1].range_start is not None and links[1].range_end is not None
        assert (as_utc(links[1].range_start), as_utc(links[1].range_end)) == (
            at(14, 5, 30),
            at(14, 20),
        )
        report_c = case_compliance(s, "XZ-2024-0042", RULES)
        event = s.scalar(select(LedgerEvent).where(LedgerEvent.action == "case.imported"))
    seizure = next(st for st in report_c.steps if st.key == "S2")
    assert seizure.light == "red"
    assert [g.message for g in seizure.gaps] == ["no recording 14:20:00-14:30:00 during seizure"]
    assert event is not None and event.subject == "case:XZ-2024-0042"
    assert json.loads(event.details)["source_sha256"]


def test_reimport_updates_steps_and_json_works(svc: Services, tmp_path: Path) -> None:
    doc = {
        "case": {"case_no": "J-1", "title": "first", "unit": "u1"},
        "steps": [
            {
                "key": "A",
                "kind": "hearing",
                "start": "2024-05-14T09:00:00Z",
                "end": "2024-05-14T10:00:00Z",
            },
        ],
    }
    path = tmp_path / "case.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with svc.db.session() as s:
        (first,) = import_file(s, path, RULES, actor="clerk")
    doc["case"]["title"] = "second"  # type: ignore[index]
    doc["case"]["closed_at"] = "2024-06-01T00:00:00Z"  # type: ignore[index]
    doc["steps"].append(  # type: ignore[attr-defined]
        {"key": "B", "kind": "decision", "start": "2024-05-20T09:00:00Z"}
    )
    path.write_text(json.dumps(doc), encoding="utf-8")
    with svc.db.session() as s:
        (second,) = import_file(s, path, RULES, actor="clerk")
        case = find_case(s, "J-1")
        assert (case.title, case.status, case.opened_at.day) == ("second", "closed", 14)
        assert [st.key for st in case_steps(s, case)] == ["A", "B"]
    assert first.created and not second.created
    assert second.steps_added == ["B"] and second.steps_updated == ["A"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "case: {case_no: X}\nsteps: [{key: A, kind: hearing, start: 2024-05-14 09:00:00}]",
            "no UTC offset",
        ),
        (
            "case: {case_no: X}\nsteps: [{key: A, kind: picnic, start: 2024-05-14T09:00:00Z}]",
            "unknown step kind 'picnic'",
        ),
        ("case: {case_no: X, colour: red}", "colour"),
        (
            "case: {case_no: X}\nsteps: [{key: A, kind: hearing, start: 2024-05-14T09:00:00Z,"
            " end: 2024-05-14T08:00:00Z}]",
            "ends before it starts",
        ),
        (
            "case: {case_no: X}\nsteps: [{key: A, kind: hearing, start: 2024-05-14T09:00:00Z}]\n"
            "links: [{recording: nothing.mp4, step: B}]",
            "unknown step 'B'",
        ),
        ("case: {case_no: X}", "opened_at"),
        ("case: [", "not valid YAML"),
    ],
)
def test_bad_files_are_refused_with_a_reason(
    svc_sqlite: Services, tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises((CaseFileError, ConfigFileError), match=message):
        with svc_sqlite.db.session() as s:
            import_file(s, path, RULES, actor="clerk")
