"""Compliance of generated cases: lights and gaps must match to the second."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from cases.compliance import (
    LinkedPiece,
    StepWindow,
    case_compliance,
    case_to_json,
    evaluate_step,
)
from cases.intervals import Interval
from cases.links import link_manual
from cases.tables import LINK_SUGGESTED, Link, Step
from storage.db.schema import Recording
from storage.services import Services
from tests.cases.case_factory import add_case, add_recording, add_step, at, checklist

RULES = checklist(tolerance=5)


def link(session: Session, rec: Recording, step: Step, proves: str | None = "scene") -> Link:
    return link_manual(
        session, rec, step, start=None, end=None, proves=proves, actor="clerk", checklist=RULES
    )


def test_hand_built_case_lights_and_gaps(svc: Services) -> None:
    with svc.db.session() as s:
        case = add_case(s, "ZF-2024-001")
        add_step(s, case, "S1", "initiation", at(9, 0), at(9, 10))
        s2 = add_step(s, case, "S2", "on_site_inspection", at(10, 0), at(10, 30))
        s3 = add_step(s, case, "S3", "seizure", at(14, 0), at(14, 30))
        s4 = add_step(s, case, "S4", "forced_demolition", at(15, 0), at(15, 20))
        add_step(s, case, "S5", "hearing", at(16, 0), at(16, 45))
        s6 = add_step(s, case, "S6", "disposal_of_goods", at(17, 0), at(17, 30))
        s7 = add_step(s, case, "S7", "service_by_leaving", at(18, 0), at(18, 5))
        s8 = add_step(s, case, "S8", "personal_freedom", at(19, 0), at(19, 20))

        # S2: the recorder left out `proves`; the link says what it proves, so it is complete.
        r = add_recording(s, start=at(10, 5), seconds=420, missing=["proves"], case_no=case.case_no)
        link(s, r, s2, proves="condition of the premises")
        # S3, seizure: three devices, overlapping pieces, a 4 s drift hole, one real gap.
        link(s, add_recording(s, start=at(13, 58), seconds=250, device="DSJ-01"), s3)  # ..14:02:10
        link(
            s, add_recording(s, start=at(14, 9, 45), seconds=618, device="DSJ-02"), s3
        )  # ..14:20:03
        link(s, add_recording(s, start=at(14, 20), seconds=240, device="DSJ-01"), s3)  # ..14:24:00
        link(
            s, add_recording(s, start=at(14, 24, 4), seconds=386, device="CCTV-7"), s3
        )  # ..14:30:30
        # S4: drift-sized holes at the start (3 s), in the middle (2 s) and at the end (3 s).
        link(s, add_recording(s, start=at(15, 0, 3), seconds=717, device="DSJ-02"), s4)
        link(s, add_recording(s, start=at(15, 12, 2), seconds=475, device="DSJ-01"), s4)
        # S7: the place is missing from the record.
        rec7 = add_recording(s, start=at(18, 1), seconds=60, missing=["location"], location=None)
        link(s, rec7, s7)
        # S8: a 7 s hole, longer than the 5 s tolerance.
        link(s, add_recording(s, start=at(19, 0), seconds=480), s8)
        link(s, add_recording(s, start=at(19, 8, 7), seconds=713), s8)
        # A recording of the case that no step uses.
        stray = add_recording(s, start=at(20, 0), seconds=30, case_no=case.case_no)
        # A suggestion is not counted until confirmed: this one would cover all of S6.
        whole = add_recording(s, start=at(16, 59), seconds=32 * 60, device="DSJ-03")
        s.add(Link(recording_id=whole.id, step_id=s6.id, status=LINK_SUGGESTED,
                   proves="scene", basis={"overlap_s": 1800}, created_at=at(17, 40),
                   created_by="suggester"))  # fmt: skip
        s.flush()

    with svc.db.session() as s:
        report = case_compliance(s, "ZF-2024-001", RULES)
    lights = {st.key: st.light for st in report.steps}
    assert lights == {
        "S1": "green",
        "S2": "green",
        "S3": "red",
        "S4": "green",
        "S5": "yellow",
        "S6": "red",
        "S7": "yellow",
        "S8": "red",
    }
    assert report.light == "red"
    by_key = {st.key: st for st in report.steps}
    assert [g.message for g in by_key["S3"].gaps] == [
        "no recording 14:02:10-14:09:45 during seizure"
    ]
    assert by_key["S3"].gaps[0].seconds == 455
    assert by_key["S3"].covered_s == 1800 - 455 - 4
    assert by_key["S4"].gaps == ()
    assert [g.message for g in by_key["S8"].gaps] == [
        "no recording 19:08:00-19:08:07 during measure restricting personal freedom"
    ]
    assert by_key["S6"].issues == (
        "no recording 17:00:00-17:30:00 during disposal of confiscated goods",
    )
    assert by_key["S5"].issues == ("no recording of the key moments of hearing",)
    assert by_key["S7"].issues == (f"recording {rec7.original_name} lacks capture metadata: place",)
    assert report.unlinked_recordings == (stray.id,)

    data = case_to_json(report)
    s3_json = next(st for st in data["steps"] if st["key"] == "S3")
    assert s3_json["gaps"] == [
        {
            "start": "2024-05-14T14:02:10Z",
            "end": "2024-05-14T14:09:45Z",
            "seconds": 455.0,
            "message": "no recording 14:02:10-14:09:45 during seizure",
        }
    ]


def test_suggested_links_count_only_when_asked(svc: Services) -> None:
    with svc.db.session() as s:
        case = add_case(s, "ZF-2024-002")
        step = add_step(s, case, "S1", "seizure", at(14, 0), at(14, 10))
        rec = add_recording(s, start=at(14, 0), seconds=600, case_no=case.case_no)
        s.add(
            Link(
                recording_id=rec.id,
                step_id=step.id,
                range_start=rec.capture_start,
                range_end=at(14, 10),
                status="suggested",
                basis={},
                created_at=at(14, 0),
                created_by="custos",
            )
        )
    with svc.db.session() as s:
        assert case_compliance(s, "ZF-2024-002", RULES).light == "red"
        assert case_compliance(s, "ZF-2024-002", RULES, include_suggested=True).light == "green"


def test_link_range_limits_coverage_to_the_part_that_belongs(svc: Services) -> None:
    with svc.db.session() as s:
        case = add_case(s, "ZF-2024-003")
        step = add_step(s, case, "S1", "seizure", at(14, 0), at(14, 20))
        rec = add_recording(s, start=at(14, 0), seconds=1200)
        # Only the first 10 minutes of this recording belong to the seizure.
        link_manual(
            s, rec, step, start=at(14, 0), end=at(14, 10), proves="x", actor="a", checklist=RULES
        )
    with svc.db.session() as s:
        report = case_compliance(s, "ZF-2024-003", RULES)
    assert [g.message for g in report.steps[0].gaps] == [
        "no recording 14:10:00-14:20:00 during seizure"
    ]


def _expected_gaps(
    length: int, pieces: list[tuple[int, int]], tolerance: int
) -> list[tuple[int, int]]:
    """Gaps found second by second, independently of the interval code."""
    covered = [False] * length
    for a, b in pieces:
        for sec in range(max(0, a), min(length, b)):
            covered[sec] = True
    found, sec = [], 0
    while sec < length:
        if covered[sec]:
            sec += 1
            continue
        end = sec
        while end < length and not covered[end]:
            end += 1
        if end - sec > tolerance:
            found.append((sec, end))
        sec = end
    return found


def clock(base: datetime, sec: int) -> str:
    return (base + timedelta(seconds=sec)).strftime("%H:%M:%S")


def test_generated_case_with_known_gaps(svc: Services) -> None:
    rng = random.Random(20240514)
    tolerance = 5
    rules = checklist(tolerance=tolerance)
    full_kinds = ["seizure", "forced_demolition", "personal_freedom", "disposal_of_goods"]
    expected: dict[str, tuple[str, list[str]]] = {}
    with svc.db.session() as s:
        case = add_case(s, "GEN-1")
        day = at(8, 0)
        for n in range(24):
            kind = full_kinds[n % len(full_kinds)]
            start = day + timedelta(minutes=40 * n)
            length = rng.randint(300, 1800)
            step = add_step(s, case, f"G{n}", kind, start, start + timedelta(seconds=length))
            pieces: list[tuple[int, int]] = []
            cursor = rng.randint(-60, 10)
            while cursor < length and len(pieces) < 8:
                size = rng.randint(60, 600)
                pieces.append((cursor, cursor + size))
                # Next piece: overlapping, drift-sized hole, or a real gap, from another device.
                cursor += size + rng.choice([-30, -1, 0, 2, 5, 6, 45, 200])
            if n % 6 == 5:
                pieces = []  # a full step with no recording at all
            for i, (a, b) in enumerate(pieces):
                rec = add_recording(
                    s, start=start + timedelta(seconds=a), seconds=b - a, device=f"DEV-{i % 3}"
                )
                link(s, rec, step)
            holes = _expected_gaps(length, pieces, tolerance)
            name = rules.rule(kind).name

            messages = [
                f"no recording {clock(start, a)}-{clock(start, b)} during {name}" for a, b in holes
            ]
            expected[step.key] = ("red" if holes or not pieces else "green", messages)

    with svc.db.session() as s:
        report = case_compliance(s, "GEN-1", rules)
    got = {st.key: (st.light, [g.message for g in st.gaps]) for st in report.steps}
    assert got == expected
    assert {light for light, _ in expected.values()} == {"red", "green"}  # both occur


def test_evaluate_step_rules_without_database() -> None:
    step = StepWindow(1, "K", "hearing", at(9, 0), at(9, 30))
    inside = LinkedPiece(1, "r1", Interval(at(9, 5), at(9, 6)))
    outside = LinkedPiece(2, "r2", Interval(at(8, 0), at(8, 10)))
    untimed = LinkedPiece(3, "r3", None)
    assert evaluate_step(step, [inside], RULES).light == "green"
    assert evaluate_step(step, [outside], RULES).light == "yellow"
    assert evaluate_step(step, [outside], RULES).issues == (
        "the recordings linked to hearing lie outside its window",
    )
    assert evaluate_step(step, [untimed], RULES).light == "green"
    optional = StepWindow(2, "D", "decision", at(9, 0), at(9, 30))
    assert evaluate_step(optional, [], RULES).light == "green"
    # A full step whose recording has no capture time cannot show continuity.
    full = StepWindow(3, "F", "seizure", at(9, 0), at(9, 30))
    verdict = evaluate_step(full, [untimed], RULES)
    assert verdict.light == "red"
    assert [g.message for g in verdict.gaps] == ["no recording 09:00:00-09:30:00 during seizure"]
    # A step without an end cannot be checked for continuity: yellow, not green.
    open_ended = StepWindow(4, "O", "seizure", at(9, 0), None)
    assert evaluate_step(open_ended, [inside], RULES).light == "yellow"
    # Unknown kinds are optional rather than an error.
    assert evaluate_step(StepWindow(5, "U", "tea_break", at(9, 0), at(9, 5)), [], RULES).light == (
        "green"
    )


def test_fractional_times_round_to_the_nearest_second() -> None:
    step = StepWindow(1, "K", "seizure", at(14, 0), at(14, 10))
    a = LinkedPiece(1, "a", Interval(at(14, 0), at(14, 2, 10) + timedelta(milliseconds=400)))
    b = LinkedPiece(2, "b", Interval(at(14, 5, 44) + timedelta(milliseconds=600), at(14, 10)))
    verdict = evaluate_step(step, [a, b], RULES)
    assert [g.message for g in verdict.gaps] == ["no recording 14:02:10-14:05:45 during seizure"]
