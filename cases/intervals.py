"""Pure interval arithmetic over UTC times: merge coverage, find gaps.

Recordings from several devices are merged into one covered set. Device clocks
drift, so two recordings that really touch may appear a few seconds apart: a gap
no longer than the drift tolerance is not reported. Gaps that are reported keep
the recordings' own boundary times, so they read exactly as the footage shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cases.times import as_utc

ZERO = timedelta(0)


@dataclass(frozen=True, order=True)
class Interval:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_utc(self.start))
        object.__setattr__(self, "end", as_utc(self.end))
        if self.end < self.start:
            raise ValueError(f"interval ends before it starts: {self.start} > {self.end}")

    @classmethod
    def of(cls, start: datetime, seconds: float) -> Interval:
        return cls(start, as_utc(start) + timedelta(seconds=max(0.0, seconds)))

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def seconds(self) -> float:
        return self.length.total_seconds()

    def widen(self, by: timedelta) -> Interval:
        return Interval(self.start - by, self.end + by)

    def intersect(self, other: Interval) -> Interval | None:
        start, end = max(self.start, other.start), min(self.end, other.end)
        return Interval(start, end) if start < end else None


def merge(intervals: Iterable[Interval], bridge: timedelta = ZERO) -> list[Interval]:
    """Union of `intervals`, sorted; pieces at most `bridge` apart are joined."""
    merged: list[Interval] = []
    for item in sorted(intervals):
        if merged and item.start - merged[-1].end <= bridge:
            if item.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, item.end)
        else:
            merged.append(item)
    return merged


def clip(intervals: Iterable[Interval], window: Interval) -> list[Interval]:
    """The parts of `intervals` inside `window` (zero-length pieces dropped)."""
    parts = (item.intersect(window) for item in intervals)
    return [part for part in parts if part is not None]


def total(intervals: Iterable[Interval]) -> timedelta:
    """Length of the union (overlaps counted once)."""
    return sum((item.length for item in merge(intervals)), ZERO)


def overlap(a: Interval, b: Interval) -> timedelta:
    part = a.intersect(b)
    return ZERO if part is None else part.length


def gaps(
    covered: Sequence[Interval], window: Interval, tolerance: timedelta = ZERO
) -> list[Interval]:
    """Stretches of `window` not covered, longer than `tolerance`.

    A gap between two recordings, or between a step boundary and the nearest
    recording, that is no longer than the tolerance is attributed to clock drift.
    """
    holes: list[Interval] = []
    cursor = window.start
    for piece in merge(clip(covered, window)):
        if piece.start > cursor:
            holes.append(Interval(cursor, piece.start))
        cursor = max(cursor, piece.end)
    if cursor < window.end:
        holes.append(Interval(cursor, window.end))
    return [hole for hole in holes if hole.length > tolerance]
