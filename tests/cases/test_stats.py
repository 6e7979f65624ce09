"""Statistics over a generated year, checked against counts kept by the generator."""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from cases.charts import write_outputs
from cases.stats import StatsQuery, compute, months
from cases.tables import LINK_CONFIRMED, Link
from storage.services import Services
from tests.cases.case_factory import add_case, add_recording, add_step, checklist

RULES = checklist(tolerance=5)
YEAR_START = datetime(2023, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2024, 1, 1, tzinfo=UTC)
UNITS = ["north", "south", "east"]
OFFICERS = ["wang", "li", "zhang", "zhao", "chen"]
RANK = {"green": 0, "yellow": 1, "red": 2}


@dataclass
class GenRecording:
    start: datetime
    seconds: float
    collector: str
    incomplete: bool
    delay_s: float
    units: set[str] = field(default_factory=set)


@dataclass
class GenStep:
    start: datetime
    unit: str
    officers: list[str]
    requirement: str
    light: str
    covered: bool


@dataclass
class GenCase:
    opened: datetime
    unit: str
    officers: set[str]
    light: str


@dataclass
class World:
    cases: list[GenCase] = field(default_factory=list)
    steps: list[GenStep] = field(default_factory=list)
    recordings: list[GenRecording] = field(default_factory=list)


def generate(svc: Services, seed: int = 2023, n_cases: int = 110) -> World:
    """Cases, steps and recordings over 2023 (and a few just outside it)."""
    rng = random.Random(seed)
    kinds = sorted(RULES.kinds)
    world = World()
    with svc.db.session() as s:
        for n in range(n_cases):
            opened = YEAR_START + timedelta(days=rng.uniform(-20, 385), seconds=rng.randint(0, 9))
            opened = opened.replace(microsecond=0)
            unit = rng.choice(UNITS)
            case = add_case(s, f"Y-{n:04d}", opened=opened, unit=unit)
            case_lights: list[str] = []
            case_officers: set[str] = set()
            for k in range(rng.randint(1, 4)):
                kind = rng.choice(kinds)
                requirement = RULES.kinds[kind].requirement
                start = opened + timedelta(days=k * 3, hours=rng.randint(0, 8))
                length = rng.randint(600, 3600)
                officers = rng.sample(OFFICERS, rng.randint(1, 2))
                case_officers.update(officers)
                step = add_step(
                    s,
                    case,
                    f"S{k}",
                    kind,
                    start,
                    start + timedelta(seconds=length),
                    officers=officers,
                )
                scenario = rng.choice(["none", "cover", "cover", "gap"])
                incomplete = scenario != "none" and rng.random() < 0.25
                pieces: list[tuple[int, int]] = []
                if scenario == "cover":
                    cut = rng.randint(200, length - 200)
                    pieces = [
                        (-rng.randint(0, 30), cut + rng.randint(0, 4)),
                        (cut + rng.randint(-20, 5), length + rng.randint(-3, 60)),
                    ]
                elif scenario == "gap":
                    cut = rng.randint(200, length - 200)
                    pieces = [(0, cut), (cut + rng.randint(10, 150), length)]
                for i, (a, b) in enumerate(pieces):
                    delay = rng.uniform(600, 72 * 3600)
                    rec_start = start + timedelta(seconds=a)
                    rec = add_recording(
                        s,
                        start=rec_start,
                        seconds=b - a,
                        device=f"DSJ-{officers[0]}-{i}",
                        collector=officers[0],
                        case_no=case.case_no if rng.random() < 0.5 else None,
                        incomplete=incomplete,
                        missing=["location"] if incomplete else None,
                        location=None if incomplete else "site",
                        ingested_at=rec_start + timedelta(seconds=delay),
                        proves="scene",
                    )
                    s.add(
                        Link(
                            recording_id=rec.id,
                            step_id=step.id,
                            range_start=rec_start,
                            range_end=rec_start + timedelta(seconds=b - a),
                            proves="scene",
                            status=LINK_CONFIRMED,
                            basis={},
                            created_at=rec_start,
                            created_by="gen",
                        )
                    )
                    world.recordings.append(
                        GenRecording(rec_start, b - a, officers[0], incomplete, delay, {unit})
                    )
                if requirement == "full":
                    light = "red" if scenario in ("none", "gap") else "green"
                elif requirement == "key_moments":
                    light = "yellow" if scenario == "none" else "green"
                else:
                    light = "green"
                if incomplete and light == "green":
                    light = "yellow"
                case_lights.append(light)
                world.steps.append(
                    GenStep(start, unit, officers, requirement, light, scenario != "none")
                )
            world.cases.append(
                GenCase(opened, unit, case_officers, max(case_lights, key=RANK.__getitem__))
            )
        # Recordings that belong to no case: patrols, some without complete metadata.
        for _ in range(n_cases + 40):
            start = YEAR_START + timedelta(days=rng.uniform(-10, 375))
            start = start.replace(microsecond=0)
            seconds = rng.randint(30, 5400)
            delay = rng.uniform(60, 240 * 3600)
            incomplete = rng.random() < 0.3
            collector = rng.choice(OFFICERS)
            add_recording(
                s,
                start=start,
                seconds=seconds,
                collector=collector,
                incomplete=incomplete,
                ingested_at=start + timedelta(seconds=delay),
            )
            world.recordings.append(GenRecording(start, seconds, collector, incomplete, delay))
    return world


def expected(
    world: World, unit: str | None = None, officer: str | None = None
) -> dict[str, object]:
    def in_year(t: datetime) -> bool:
        return YEAR_START <= t < YEAR_END

    cases = [
        c
        for c in world.cases
        if in_year(c.opened)
        and unit in (None, c.unit)
        and (officer is None or officer in c.officers)
    ]
    steps = [
        st
        for st in world.steps
        if in_year(st.start)
        and unit in (None, st.unit)
        and (officer is None or officer in st.officers)
    ]
    recs = [
        r
        for r in world.recordings
        if in_year(r.start) and (unit is None or unit in r.units) and officer in (None, r.collector)
    ]
    required = [st for st in steps if st.requirement != "optional"]
    green = sum(1 for st in required if st.light == "green")
    delays_h = np.asarray([r.delay_s for r in recs]) / 3600.0
    return {
        "cases": len(cases),
        "cases_by_light": {k: sum(1 for c in cases if c.light == k) for k in RANK},
        "steps": len(steps),
        "steps_required": len(required),
        "steps_covered": sum(1 for st in steps if st.covered),
        "steps_by_light": {k: sum(1 for st in steps if st.light == k) for k in RANK},
        "compliance_rate": round(green / len(required), 4) if required else None,
        "recordings": len(recs),
        "hours": round(sum(r.seconds for r in recs) / 3600.0, 4),
        "recordings_incomplete": sum(1 for r in recs if r.incomplete),
        "capture_to_upload": {
            "count": len(recs),
            "mean_h": round(float(delays_h.mean()), 4),
            "median_h": round(float(np.median(delays_h)), 4),
            "p90_h": round(float(np.percentile(delays_h, 90)), 4),
            "max_h": round(float(delays_h.max()), 4),
        },
    }


def test_generated_year_matches_independent_counts(svc: Services, tmp_path: Path) -> None:
    world = generate(svc)
    for unit, officer in ((None, None), ("south", None), (None, "li")):
        with svc.db.session() as s:
            stats = compute(s, StatsQuery(YEAR_START, YEAR_END, unit, officer), RULES)
        want = expected(world, unit, officer)
        got = {k: stats.summary[k] for k in want}
        assert got == want, (unit, officer)
        assert sum(row["recordings"] for row in stats.monthly) == want["recordings"]
        assert [row["month"] for row in stats.monthly] == [f"2023-{m:02d}" for m in range(1, 13)]
    # Every light occurs, so the comparison above exercised all of them.
    assert all(v > 0 for v in expected(world)["steps_by_light"].values())  # type: ignore[attr-defined]


def test_outputs_csv_json_and_charts(svc_sqlite: Services, tmp_path: Path) -> None:
    world = generate(svc_sqlite, seed=7, n_cases=30)
    with svc_sqlite.db.session() as s:
        stats = compute(s, StatsQuery(YEAR_START, YEAR_END), RULES)
    written = write_outputs(stats, tmp_path / "out")
    names = sorted(p.name for p in written)
    assert names == sorted(
        ["summary.json", "summary.csv", "monthly.csv", "by_unit.csv", "by_kind.csv"]
        + [
            f"{c}.{ext}"
            for c in (
                "recordings_per_month",
                "step_lights_by_kind",
                "compliance_by_unit",
                "capture_to_upload",
            )
            for ext in ("png", "svg")
        ]
    )
    doc = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert doc["summary"]["recordings"] == expected(world)["recordings"]
    with (tmp_path / "out" / "by_unit.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["unit"] for r in rows) == sorted(UNITS)
    assert sum(int(r["cases"]) for r in rows) == expected(world)["cases"]
    with (tmp_path / "out" / "summary.csv").open() as handle:
        flat = {r["metric"]: r["value"] for r in csv.DictReader(handle)}
    assert flat["steps_by_light.red"] == str(stats.summary["steps_by_light"]["red"])
    png = (tmp_path / "out" / "recordings_per_month.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert b"<svg" in (tmp_path / "out" / "step_lights_by_kind.svg").read_bytes()


def test_month_keys_follow_the_period() -> None:
    assert months(datetime(2023, 11, 15, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)) == [
        "2023-11",
        "2023-12",
        "2024-01",
    ]
