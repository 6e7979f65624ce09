from __future__ import annotations

import random
from datetime import timedelta

import pytest

from cases.intervals import Interval, clip, gaps, merge, overlap, total
from tests.cases.case_factory import T0


def iv(a: float, b: float) -> Interval:
    return Interval(T0 + timedelta(seconds=a), T0 + timedelta(seconds=b))


def test_merge_joins_overlapping_and_touching_only() -> None:
    assert merge([iv(10, 20), iv(0, 5), iv(15, 30), iv(30, 31), iv(40, 41)]) == [
        iv(0, 5),
        iv(10, 31),
        iv(40, 41),
    ]


def test_merge_bridges_small_gaps() -> None:
    assert merge([iv(0, 10), iv(13, 20), iv(30, 40)], bridge=timedelta(seconds=3)) == [
        iv(0, 20),
        iv(30, 40),
    ]


def test_gaps_keep_exact_boundaries_and_drop_drift_sized_holes() -> None:
    window = iv(0, 100)
    covered = [iv(-5, 20), iv(24, 50), iv(45, 60), iv(70, 97)]
    # 20-24 (4 s) and 97-100 (3 s) are within a 5 s tolerance; 60-70 is not.
    assert gaps(covered, window, timedelta(seconds=5)) == [iv(60, 70)]
    assert gaps(covered, window) == [iv(20, 24), iv(60, 70), iv(97, 100)]


def test_gap_exactly_at_tolerance_is_not_reported() -> None:
    assert gaps([iv(0, 10), iv(15, 20)], iv(0, 20), timedelta(seconds=5)) == []
    assert gaps([iv(0, 10), iv(16, 20)], iv(0, 20), timedelta(seconds=5)) == [iv(10, 16)]


def test_uncovered_window_is_one_gap_and_clip_total_overlap() -> None:
    assert gaps([], iv(0, 60)) == [iv(0, 60)]
    assert clip([iv(-10, 5), iv(50, 70)], iv(0, 60)) == [iv(0, 5), iv(50, 60)]
    assert total([iv(0, 10), iv(5, 15), iv(20, 21)]) == timedelta(seconds=16)
    assert overlap(iv(0, 10), iv(5, 20)) == timedelta(seconds=5)
    assert overlap(iv(0, 10), iv(10, 20)) == timedelta(0)


def test_reversed_interval_refused() -> None:
    with pytest.raises(ValueError):
        iv(10, 5)


def test_gaps_agree_with_a_second_by_second_count() -> None:
    rng = random.Random(7)
    for _ in range(200):
        length = rng.randint(10, 400)
        pieces = []
        for _ in range(rng.randint(0, 6)):
            a = rng.randint(-20, length + 20)
            pieces.append(iv(a, a + rng.randint(1, 120)))
        tolerance = rng.choice([0, 2, 5])
        covered = [False] * length
        for p in pieces:
            a, b = int((p.start - T0).total_seconds()), int((p.end - T0).total_seconds())
            for s in range(max(0, a), min(length, b)):
                covered[s] = True
        expected, s = [], 0
        while s < length:
            if covered[s]:
                s += 1
                continue
            e = s
            while e < length and not covered[e]:
                e += 1
            if e - s > tolerance:
                expected.append(iv(s, e))
            s = e
        assert gaps(pieces, iv(0, length), timedelta(seconds=tolerance)) == expected
