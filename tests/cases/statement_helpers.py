"""Builders for the statement and language tests: transcripts written as text, with word
times, turned into the speech of a recording linked to a step."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from cases.compliance import StepWindow
from cases.speech import Speech, voices_of
from models.speech.transcribe import Segment, Word

_UNIT = re.compile(r"[\u3400-\u9fff][，。！？、]*|[^\s\u3400-\u9fff]+")


def segment(start: float, text: str, per_unit: float = 0.25, doubtful: bool = False) -> Segment:
    """A segment whose words are its characters (Chinese) or its words (English), each
    `per_unit` seconds long, as Whisper's word times would be."""
    words: list[Word] = []
    t = start
    for m in _UNIT.finditer(text):
        words.append(Word(t, t + per_unit, (" " if words and not m.group(0)[0] >= "\u3400" else "")
                          + m.group(0), 0.9))  # fmt: skip
        t += per_unit
    return Segment(start, t, text, None, None, -0.2, 0.01, 1.2, 0.9, 1.0, words, doubtful)


def speech(
    lines: Sequence[tuple[float, str]],
    *,
    rec_id: str = "rec-1",
    name: str = "BWC0042_0003.mp4",
    capture_start: datetime | None = None,
    lo_s: float = float("-inf"),
    hi_s: float = float("inf"),
) -> Speech:
    segs = [segment(start, text) for start, text in lines]
    return Speech(rec_id, name, "mezzanine", capture_start, lo_s, hi_s, tuple(voices_of(segs, 0)))


def unchecked(rec_id: str = "rec-2", name: str = "BWC0007_0001.mp4") -> Speech:
    return Speech(rec_id, name, "mezzanine", None, float("-inf"), float("inf"), None,
                  "no transcript yet")  # fmt: skip


def window(kind: str, start: datetime, minutes: float = 30) -> StepWindow:
    return StepWindow(1, "S1", kind, start, start + timedelta(minutes=minutes))
