"""Compliance against an independent oracle, over generated steps and links.

The oracle works in whole seconds: a second is covered when some linked recording with a
capture time covers all of it. With whole-second inputs that is exact, and it shares no
code with `cases.intervals` or `cases.compliance`. The rules it encodes are the ones
docs/cases.md states:

- `full`: red when a run of uncovered seconds inside the window is longer than the drift
  tolerance, and red when no recording falls in the window at all (nothing linked, or
  nothing linked within the tolerance of the window); without an end time, red when no
  recording falls in the step, yellow otherwise;
- `key_moments`: yellow when no linked recording falls in the window (give or take the
  tolerance); a linked recording without a capture time counts as falling in it;
- `optional`: no requirement;
- any linked recording lacking required capture metadata: yellow;
- the light is the worst of those.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cases.compliance import LinkedPiece, StepWindow, evaluate_step
from cases.intervals import Interval
from tests.cases.case_factory import at, checklist

T = at(14, 0)
KINDS = {"seizure": "full", "hearing": "key_moments", "decision": "optional"}
RANK = {"green": 0, "yellow": 1, "red": 2}


@dataclass(frozen=True)
class GenPiece:
    span: tuple[int, int] | None  # seconds after T; None: no capture time
    missing: bool


@dataclass(frozen=True)
class GenStep:
    kind: str
    start: int
    end: int | None
    tolerance: int
    pieces: tuple[GenPiece, ...]


def _piece() -> st.SearchStrategy[GenPiece]:
    timed = st.tuples(st.integers(-40, 80), st.integers(0, 40)).map(lambda p: (p[0], p[0] + p[1]))
    span = st.one_of(timed, timed, timed, st.none())
    return st.builds(GenPiece, span, st.sampled_from([False, False, False, True]))


def _step() -> st.SearchStrategy[GenStep]:
    return st.builds(
        GenStep,
        st.sampled_from(sorted(KINDS)),
        st.integers(0, 30),
        st.one_of(st.integers(0, 45), st.none()),
        st.integers(0, 8),
        st.lists(_piece(), max_size=6).map(tuple),
    ).filter(lambda s: s.end is None or s.end >= s.start)


@st.composite
def _tiled_step(draw: st.DrawFn) -> GenStep:
    """A step whose window is tiled by recordings with small holes and overlaps around the
    tolerance, so that holes one second either side of it are common."""
    tolerance = draw(st.integers(0, 6))
    start = draw(st.integers(0, 30))
    length = draw(st.integers(0, 60))
    cursor = start - draw(st.integers(-tolerance - 2, tolerance + 2))
    pieces: list[GenPiece] = []
    while cursor < start + length and len(pieces) < 8:
        size = draw(st.integers(1, 20))
        pieces.append(
            GenPiece((cursor, cursor + size), draw(st.sampled_from([False] * 5 + [True])))
        )
        cursor += size + draw(st.integers(-3, tolerance + 2))
    end = start + length + draw(st.integers(-tolerance - 2, tolerance + 2))
    return GenStep(
        draw(st.sampled_from(sorted(KINDS))), start, max(start, end), tolerance, tuple(pieces)
    )


def _oracle(step: GenStep) -> dict[str, object]:
    """Light, recorded, covered seconds and uncovered runs, counted second by second."""
    requirement = KINDS[step.kind]
    tol = step.tolerance
    timed = [p.span for p in step.pieces if p.span is not None and p.span[1] > p.span[0]]
    untimed = [p for p in step.pieces if p.span is None]
    end = step.start if step.end is None else step.end

    def covers(second: int) -> bool:
        return any(a <= second < b for a, b in timed)

    if step.end is None:
        # Open-ended: a recording falls in the step when it has not ended before the step
        # started (less the tolerance).
        reach = any(b >= step.start - tol for _a, b in timed)
    else:
        # Some covered second lies in the window widened by the tolerance.
        reach = any(covers(s) for s in range(step.start - tol, end + tol))
    recorded = reach or bool(untimed)
    window = range(step.start, end)
    covered = sum(1 for s in window if covers(s)) if step.end is not None else 0
    runs: list[tuple[int, int]] = []
    run_start: int | None = None
    for s in [*window, end]:
        hole = s < end and not covers(s)
        if hole and run_start is None:
            run_start = s
        elif not hole and run_start is not None:
            runs.append((run_start, s))
            run_start = None
    long_runs = [(a, b) for a, b in runs if b - a > tol] if step.end is not None else []

    light = "green"

    def raise_to(level: str) -> None:
        nonlocal light
        if RANK[level] > RANK[light]:
            light = level

    if requirement == "full":
        if step.end is None:
            raise_to("yellow" if recorded else "red")
        elif long_runs or not reach:
            raise_to("red")
    elif requirement == "key_moments" and not recorded:
        raise_to("yellow")
    if any(p.missing for p in step.pieces):
        raise_to("yellow")
    return {
        "light": light,
        "recorded": recorded,
        "covered_s": float(covered),
        "gaps": long_runs if requirement == "full" else [],
    }


def _evaluate(step: GenStep) -> dict[str, object]:
    window = StepWindow(
        1,
        "S",
        step.kind,
        T + timedelta(seconds=step.start),
        None if step.end is None else T + timedelta(seconds=step.end),
    )
    pieces = [
        LinkedPiece(
            n,
            f"r{n}",
            None
            if p.span is None
            else Interval(T + timedelta(seconds=p.span[0]), T + timedelta(seconds=p.span[1])),
            missing_metadata=("place",) if p.missing else (),
        )
        for n, p in enumerate(step.pieces)
    ]
    verdict = evaluate_step(window, pieces, checklist(tolerance=step.tolerance))

    def sec(t: datetime) -> int:
        return int((t - T).total_seconds())

    return {
        "light": verdict.light,
        "recorded": verdict.recorded,
        "covered_s": verdict.covered_s,
        "gaps": [(sec(g.start), sec(g.end)) for g in verdict.gaps],
    }


@settings(max_examples=600, deadline=None)
@given(st.one_of(_step(), _tiled_step()))
def test_step_verdict_matches_a_per_second_oracle(step: GenStep) -> None:
    assert _evaluate(step) == _oracle(step)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 8), st.integers(0, 8))
def test_a_short_full_step_with_nothing_linked_is_red(length: int, tolerance: int) -> None:
    step = GenStep("seizure", 10, 10 + length, tolerance, ())
    assert _evaluate(step)["light"] == "red"


def test_issue_reproduction_four_second_seizure_with_nothing_linked() -> None:
    step = StepWindow(1, "S1", "seizure", at(14, 0), at(14, 0, 4))
    verdict = evaluate_step(step, [], checklist(tolerance=5))
    assert (verdict.light, verdict.recorded, verdict.covered_s, verdict.window_s) == (
        "red",
        False,
        0.0,
        4.0,
    )
    assert verdict.issues == ("no recording of seizure (full recording required)",)


def test_short_full_step_with_only_a_distant_recording_is_red() -> None:
    step = StepWindow(1, "S1", "seizure", at(14, 0), at(14, 0, 4))
    far = LinkedPiece(1, "r1", Interval(at(13, 0), at(13, 10)))
    verdict = evaluate_step(step, [far], checklist(tolerance=5))
    assert (verdict.light, verdict.recorded) == ("red", False)
    assert verdict.issues == ("the recordings linked to seizure lie outside its window",)


def test_short_full_step_covered_within_drift_stays_green() -> None:
    step = StepWindow(1, "S1", "seizure", at(14, 0), at(14, 0, 4))
    near = LinkedPiece(1, "r1", Interval(at(13, 59, 50), at(13, 59, 57)))  # ends 3 s early
    verdict = evaluate_step(step, [near], checklist(tolerance=5))
    assert (verdict.light, verdict.recorded, verdict.gaps) == ("green", True, ())
