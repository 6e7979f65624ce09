"""The case, stats, retention and hold commands end to end, as an operator runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from storage.config import Settings, get_settings
from storage.services import Services
from tests.cases.case_factory import add_recording

CASE_FILE = """
case: {case_no: CLI-1, title: street stall, unit: north}
steps:
  - {key: S1, kind: seizure, start: "2024-05-14T14:00:00Z", end: "2024-05-14T14:30:00Z",
     officers: [wang], devices: [DSJ-01]}
  - {key: S2, kind: hearing, start: "2024-05-20T09:00:00Z", end: "2024-05-20T10:00:00Z"}
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    data = tmp_path / "data"
    monkeypatch.setenv("CUSTOS_DATA_DIR", str(data))
    monkeypatch.setenv("CUSTOS_ACTOR", "clerk")
    monkeypatch.setenv("CUSTOS_RETENTION_DAYS", "0")
    get_settings.cache_clear()
    svc = Services.open(Settings(data_dir=data, actor="clerk", retention_days=0))
    yield svc
    svc.close()
    get_settings.cache_clear()


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_operator_workflow(env: Services, tmp_path: Path) -> None:
    t = datetime(2024, 5, 14, 14, 0, tzinfo=UTC)
    with env.db.session() as s:
        a = add_recording(
            s,
            start=t - timedelta(minutes=1),
            seconds=300,
            device="DSJ-01",
            name="DSJ-01_a.mp4",
            store=env.store,
        )
        b = add_recording(
            s,
            start=t + timedelta(minutes=12),
            seconds=1200,
            device="DSJ-01",
            name="DSJ-01_b.mp4",
            store=env.store,
        )
        hearing = add_recording(
            s,
            start=datetime(2024, 5, 20, 9, 5, tzinfo=UTC),
            seconds=600,
            device="CCTV-3",
            name="room3.mp4",
            store=env.store,
        )
        stray = add_recording(
            s,
            start=t,
            seconds=60,
            device="X",
            collector="x",
            case_no="CLI-1",
            name="stray.mp4",
            store=env.store,
        )
        patrol = add_recording(
            s,
            start=datetime(2024, 1, 2, tzinfo=UTC),
            seconds=60,
            device="X",
            collector="x",
            name="patrol.mp4",
            store=env.store,
        )
    case_file = tmp_path / "case.yaml"
    case_file.write_text(CASE_FILE)

    assert "case CLI-1 created: 2 steps added" in run("case", "import", str(case_file))
    suggestions = json.loads(run("case", "suggest", "CLI-1", "--json"))
    assert {(row["name"], row["step"]) for row in suggestions} == {
        ("DSJ-01_a.mp4", "S1"),
        ("DSJ-01_b.mp4", "S1"),
        ("stray.mp4", "S1"),
    }
    wanted = [str(r["link"]) for r in suggestions if r["name"] != "stray.mp4"]
    stray_link = next(str(r["link"]) for r in suggestions if r["name"] == "stray.mp4")
    assert "confirmed 2 link(s)" in run("case", "confirm", *wanted)
    assert "rejected 1 link(s)" in run("case", "reject", stray_link)
    run(
        "case",
        "link",
        "room3.mp4",
        "--step",
        "S2",
        "--case",
        "CLI-1",
        "--from",
        "0:01:00",
        "--to",
        "0:05:00",
        "--proves",
        "hearing statement",
    )

    report = json.loads(run("case", "compliance", "CLI-1", "--json"))
    assert report["light"] == "red"
    s1 = next(st for st in report["steps"] if st["key"] == "S1")
    assert [g["message"] for g in s1["gaps"]] == ["no recording 14:04:00-14:12:00 during seizure"]
    assert next(st for st in report["steps"] if st["key"] == "S2")["light"] == "green"
    assert report["unlinked_recordings"] == [stray.id]
    shown = json.loads(run("case", "show", "CLI-1", "--json"))
    assert {row["recording"] for row in shown["links"]} == {
        "DSJ-01_a.mp4",
        "DSJ-01_b.mp4",
        "room3.mp4",
        "stray.mp4",
    }
    assert "recording without step" in run("case", "show", "CLI-1")

    out = tmp_path / "stats"
    run("stats", "--from", "2024-01-01", "--to", "2025-01-01", "--unit", "north", "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())["summary"]
    assert (summary["cases"], summary["steps"], summary["recordings"]) == (1, 2, 4)
    assert (out / "compliance_by_unit.svg").exists()

    policy = tmp_path / "retention.yaml"
    policy.write_text(
        "default_category: r\ncase_category: e\ncategories:\n  r: {days: 1}\n  e: {years: 100}\n"
    )
    run("hold", "set", patrol.sha256[:12], "--reason", "complaint")
    due = json.loads(run("retention", "due", "--json", "--policy", str(policy)))
    assert due == []
    everything = json.loads(run("retention", "due", "--all", "--json", "--policy", str(policy)))
    states = {row["name"]: row["state"] for row in everything}
    assert states["patrol.mp4"] == "held" and states["DSJ-01_a.mp4"] == "open_case"
    err = run(
        "retention",
        "dispose",
        patrol.id,
        "--approved-by",
        "chief",
        "--reason",
        "old",
        "--policy",
        str(policy),
        code=1,
    )
    assert "legal hold" in err
    run("hold", "lift", patrol.id)
    assert [
        row["name"]
        for row in json.loads(run("retention", "due", "--json", "--policy", str(policy)))
    ] == ["patrol.mp4"]
    err = run(
        "retention",
        "dispose",
        patrol.id,
        "--approved-by",
        "clerk",
        "--reason",
        "old",
        "--policy",
        str(policy),
        code=1,
    )
    assert "second person" in err
    assert "disposed of patrol.mp4" in run(
        "retention",
        "dispose",
        patrol.id,
        "--approved-by",
        "chief",
        "--reason",
        "old",
        "--policy",
        str(policy),
    )
    assert not env.store.exists(patrol.object_key)
    assert "no case 'NOPE'" in run("case", "show", "NOPE", code=1)
    assert a.id and b.id and hearing.id


def test_link_trims_and_suggest_lists_what_is_pending(env: Services, tmp_path: Path) -> None:
    t = datetime(2024, 5, 14, 14, 0, tzinfo=UTC)
    with env.db.session() as s:
        add_recording(s, start=t + timedelta(minutes=5), seconds=300, name="DSJ-01_a.mp4")
        add_recording(s, start=t + timedelta(minutes=20), seconds=60, name="DSJ-01_b.mp4")
        # Tagged with the case and step but captured on another day: no overlap.
        late = t + timedelta(days=2)
        add_recording(s, start=late, seconds=60, name="late.mp4", case_no="CLI-1", step="seizure")
        notes = add_recording(s, start=t + timedelta(minutes=5), seconds=None, name="notes.txt")
        notes.status, notes.media_kind = "not-media", "other"
        empty = add_recording(s, start=t + timedelta(minutes=5), seconds=0, name="DSJ-01_0.mp4")
        empty.size = 0
    case_file = tmp_path / "case.yaml"
    case_file.write_text(CASE_FILE)
    run("case", "import", str(case_file))

    # 14:05-14:10; asked 14:00-14:08: trimmed, and said so.
    link = ("case", "link", "DSJ-01_a.mp4", "--step", "CLI-1:S1")
    out = run(*link, "--from", "2024-05-14T14:00:00Z", "--to", "0:03:00")
    assert "2024-05-14T14:05:00" in out and "trimmed to the recording" in out
    assert "--from 2024-05-14T14:00:00" in out.replace("\n", " ")
    err = run(*link, "--from", "2024-05-14T13:00:00Z", "--to", "2024-05-14T13:30:00Z", code=1)
    assert "outside the recording" in err

    first = json.loads(run("case", "suggest", "CLI-1", "--json"))
    # a already has its (confirmed) link on S1; late, notes and empty are never suggested.
    assert [(r["name"], r["step"], r["pending_before"]) for r in first] == [
        ("DSJ-01_b.mp4", "S1", False)
    ]
    assert first[0]["basis"]["overlap_s"] == 60.0
    again = run("case", "suggest", "CLI-1")
    assert "no new suggestions" not in again and "DSJ-01_b.mp4" in again
    assert "pending from before" in again and "0 new, 1 pending from before" in again
    assert json.loads(run("case", "suggest", "CLI-1", "--json"))[0]["pending_before"] is True
    assert empty.id and notes.id


def test_retention_due_lists_only_what_the_store_lets_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("CUSTOS_DATA_DIR", str(data))
    monkeypatch.setenv("CUSTOS_ACTOR", "clerk")
    monkeypatch.setenv("CUSTOS_RETENTION_DAYS", "3650")  # ten years of object lock
    get_settings.cache_clear()
    svc = Services.open(Settings(data_dir=data, actor="clerk", retention_days=3650))
    try:
        with svc.db.session() as s:
            old = datetime.now(UTC) - timedelta(days=400)
            rec = add_recording(s, start=old, seconds=60, name="patrol.mp4", store=svc.store)
        # The built-in policy: routine footage is kept 6 months, so by the policy it is due.
        result = CliRunner().invoke(app, ["retention", "due", "--all", "--json"])
        assert result.exit_code == 0, result.output
        (row,) = json.loads(result.stdout)
        assert (row["name"], row["state"]) == ("patrol.mp4", "locked")
        assert row["detail"].startswith("locked until ")
        assert "CUSTOS_RETENTION_DAYS=3650" in result.stderr and "181" in result.stderr
        assert json.loads(CliRunner().invoke(app, ["retention", "due", "--json"]).stdout) == []
        err = run("retention", "dispose", rec.id, "--approved-by", "chief", "--reason", "old",
                  code=1)  # fmt: skip
        assert "cannot be deleted before then" in err
        assert svc.store.exists(rec.object_key)
    finally:
        svc.close()
        get_settings.cache_clear()


def test_default_object_lock_fits_the_built_in_policy() -> None:
    from cases.retention import load_policy, lock_conflict

    policy = load_policy()
    assert policy.shortest() == ("routine", 181)
    assert lock_conflict(policy, Settings.model_fields["retention_days"].default) is None
    assert lock_conflict(policy, 3650) is not None
