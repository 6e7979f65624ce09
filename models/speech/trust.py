"""Trust signals on transcribed segments: why a reviewer should look twice.

A segment is never dropped for being doubtful; it is kept and marked with reasons, so the
reviewer sees what the model produced and why it may be wrong:
- ``repetition``: a phrase looping within a segment, or the same text over and over in
  consecutive segments (Whisper's classic failure on noise and music);
- ``no_vad_speech``: text placed where the voice-activity detector heard (almost) no speech;
- ``high_compression``: text that compresses too well to be ordinary speech;
- ``low_confidence``: low average log-probability or low word probabilities;
- ``no_speech_prob``: the model itself thought the window held no speech.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.speech.transcribe import Segment

REPETITION = "repetition"
NO_VAD_SPEECH = "no_vad_speech"
HIGH_COMPRESSION = "high_compression"
LOW_CONFIDENCE = "low_confidence"
NO_SPEECH_PROB = "no_speech_prob"


@dataclass(frozen=True)
class DoubtRules:
    min_speech_ratio: float = 0.3
    max_compression_ratio: float = 2.4  # Whisper's own fallback threshold
    min_avg_logprob: float = -1.0  # likewise
    min_confidence: float = 0.4  # mean word probability
    max_no_speech_prob: float = 0.6
    min_repeats: int = 3  # a unit said this many times in a row ...
    min_repeated_units: int = 6  # ... covering at least this many words or characters
    max_unit: int = 10
    min_identical_segments: int = 3


@lru_cache(maxsize=1)
def _t2s() -> object:
    from opencc import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese characters; digits, Latin and punctuation unchanged."""
    converter = _t2s()
    return str(converter.convert(text))  # type: ignore[attr-defined]


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
_WORD = re.compile(r"\w+", re.UNICODE)


def units(text: str) -> list[str]:
    """Words for spaced scripts, single characters for Han/kana/hangul (no word spaces)."""
    out: list[str] = []
    for token in _WORD.findall(unicodedata.normalize("NFKC", text).lower()):
        if _HAN.search(token):
            out.extend(ch for ch in token)
        else:
            out.append(token)
    return out


def longest_loop(items: list[str], max_unit: int = 10) -> tuple[int, int]:
    """(unit length, repeats) of the loop covering the most items: "a b a b a b" -> (2, 3)."""
    best = (0, 0)
    n_items = len(items)
    for size in range(1, min(max_unit, n_items // 2) + 1):
        i = 0
        while i + 2 * size <= n_items:
            repeats = 1
            while (
                i + (repeats + 1) * size <= n_items
                and items[i + repeats * size : i + (repeats + 1) * size] == items[i : i + size]
            ):
                repeats += 1
            if repeats > 1 and size * repeats > best[0] * best[1]:
                best = (size, repeats)
            i += size * repeats if repeats > 1 else 1
    return best


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _flag(segment: Segment, reason: str) -> None:
    if reason not in segment.doubt_reasons:
        segment.doubt_reasons.append(reason)
    segment.doubtful = True


def judge_segment(segment: Segment, rules: DoubtRules) -> None:
    """Set the segment's compression ratio and doubt flags from its own evidence."""
    segment.compression_ratio = round(compression_ratio(segment.text), 3)
    size, repeats = longest_loop(units(segment.text), rules.max_unit)
    if repeats >= rules.min_repeats and size * repeats >= rules.min_repeated_units:
        _flag(segment, REPETITION)
    if segment.speech_ratio < rules.min_speech_ratio:
        _flag(segment, NO_VAD_SPEECH)
    if segment.compression_ratio > rules.max_compression_ratio:
        _flag(segment, HIGH_COMPRESSION)
    if segment.avg_logprob < rules.min_avg_logprob or segment.confidence < rules.min_confidence:
        _flag(segment, LOW_CONFIDENCE)
    if segment.no_speech_prob > rules.max_no_speech_prob:
        _flag(segment, NO_SPEECH_PROB)


def flag_repeated_segments(segments: list[Segment], rules: DoubtRules) -> None:
    """Mark runs of consecutive segments that say exactly the same thing."""
    keys = [" ".join(units(s.text)) for s in segments]
    i = 0
    while i < len(segments):
        j = i + 1
        while j < len(segments) and keys[j] == keys[i] and keys[i]:
            j += 1
        if j - i >= rules.min_identical_segments:
            for segment in segments[i:j]:
                _flag(segment, REPETITION)
        i = j
