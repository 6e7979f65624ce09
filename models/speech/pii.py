"""Spoken PII: identity, phone and card numbers, plates, e-mail addresses and names in speech.

`find_pii(transcript, names=...)` returns `PiiFinding`s, each with the kind, what was heard,
its normalised form, word-exact times plus a margin (for the mute span), and where it lies
in the transcript (for the text redaction, `redact_transcript` / `redact_segment_text`).

How the text is read:
- The words of each voice (segments of one channel, in time order) are joined into one
  stream, so a number split across two segments is found whole; segments further apart
  than `JOIN_GAP_S` are not joined.
- Numbers, plates and e-mail addresses are found on the normalised stream
  (`models.speech.pii_numbers`: spoken digits as digits), names on the stream as heard
  (`models.speech.pii_text`). Overlapping hits become one finding, of the most specific kind.
- Every character of a hit is traced back to the word it came from: the mute span runs
  from the first such word's start to the last one's end, plus the margin, clamped to the
  audio. A segment without word times is muted whole.
- Recall first: garbled numbers are muted with what validation said in `reason`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from models.speech.pii_numbers import (
    KIND_RANK,
    Hit,
    find_cues,
    find_numbers,
    find_plates,
    normalise,
)
from models.speech.pii_text import find_emails, find_names
from models.speech.transcribe import Segment, Transcript

PiiKind = Literal["id_card", "mobile", "landline", "bank_card", "plate", "email", "name", "number"]
KINDS: tuple[PiiKind, ...] = (
    "id_card",
    "mobile",
    "landline",
    "bank_card",
    "plate",
    "email",
    "name",
    "number",
)
MASK = "＊"
JOIN_GAP_S = 2.0  # segments of one voice closer than this are read as one text
DEFAULT_MARGIN_S = 0.25


@dataclass(frozen=True)
class PiiPart:
    """The piece of a finding inside one segment."""

    segment_index: int
    word_range: tuple[int, int] | None  # first and last word (inclusive); None: no words
    # [start, end) in the segment's word text ("".join of its words' text), or in its
    # `text` when it has no words.
    char_range: tuple[int, int]
    start: float  # the words' own times, without margin
    end: float


@dataclass(frozen=True)
class PiiFinding:
    kind: PiiKind
    text: str  # as recognised
    normalised: str  # digits (X last for an ID), plate, address, or the listed name
    start: float  # seconds, from the first word's start minus the margin, not below 0
    end: float  # ... to the last word's end plus the margin, not past the audio
    channel: int | None  # the segments' channel; None: the stream heard as one voice
    stream_index: int | None
    segment_index: int  # of the first part
    word_range: tuple[int, int] | None  # words of the first part
    confidence: float  # 0..1
    validated: bool  # check digit / Luhn / format passed
    reason: str  # why it was flagged
    parts: tuple[PiiPart, ...]  # one per segment it touches, in order


@dataclass
class _Stream:
    """The text of one voice and, for each character, (segment, word, offset) or None."""

    channel: int | None
    text: str
    owners: list[tuple[int, int, int] | None]


def _unit_text(segment: Segment) -> str:
    return "".join(w.text for w in segment.words) if segment.words else segment.text


def _streams(segments: Sequence[Segment]) -> list[_Stream]:
    voices: dict[int | None, list[int]] = {}
    for i, seg in enumerate(segments):
        voices.setdefault(seg.channel, []).append(i)
    streams: list[_Stream] = []
    for channel, indices in voices.items():
        indices.sort(key=lambda i: (segments[i].start, i))
        chars: list[str] = []
        owners: list[tuple[int, int, int] | None] = []
        last_end: float | None = None
        for i in indices:
            seg = segments[i]
            if last_end is not None:
                chars.append(" " if seg.start - last_end <= JOIN_GAP_S else "\n")
                owners.append(None)
            last_end = seg.end if last_end is None else max(last_end, seg.end)
            offset = 0
            units = [(k, w.text) for k, w in enumerate(seg.words)] or [(-1, seg.text)]
            for k, text in units:
                for ch in text:
                    chars.append(ch)
                    owners.append((i, k, offset))
                    offset += 1
        streams.append(_Stream(channel, "".join(chars), owners))
    return streams


def _merge(hits: list[Hit]) -> list[Hit]:
    """Overlapping hits as one: the most specific kind, over the union of their text."""

    def rank(h: Hit) -> tuple[int, bool, float]:
        return KIND_RANK.get(h.kind, 0), h.validated, h.confidence

    out: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (h.start, -h.end)):
        if out and hit.start < out[-1].end:
            last = out[-1]
            best = max(last, hit, key=rank)
            other = hit if best is last else last
            reason = best.reason
            if other.kind != best.kind and f"overlaps {other.kind}" not in reason:
                reason = f"{reason}; overlaps {other.kind}"
            out[-1] = Hit(
                best.kind,
                last.start,
                max(last.end, hit.end),
                best.normalised,
                best.confidence,
                best.validated,
                reason,
            )
        else:
            out.append(hit)
    return out


def _finding(
    hit: Hit,
    stream: _Stream,
    segments: Sequence[Segment],
    margin_s: float,
    stream_index: int | None,
    duration_s: float,
) -> PiiFinding | None:
    start, end = hit.start, hit.end
    while start < end and (stream.owners[start] is None or stream.text[start].isspace()):
        start += 1
    while end > start and (stream.owners[end - 1] is None or stream.text[end - 1].isspace()):
        end -= 1
    owned = [o for o in stream.owners[start:end] if o is not None]
    if not owned:
        return None
    parts: list[PiiPart] = []
    for seg_index in dict.fromkeys(o[0] for o in owned):
        mine = [o for o in owned if o[0] == seg_index]
        seg = segments[seg_index]
        first, last = mine[0][1], mine[-1][1]
        if first < 0:
            words, times = None, [(seg.start, seg.end)]
        else:
            words = (first, last)
            times = [(w.start, w.end) for w in seg.words[first : last + 1]]
        parts.append(
            PiiPart(
                seg_index,
                words,
                (mine[0][2], mine[-1][2] + 1),
                min(t[0] for t in times),
                max(t[1] for t in times),
            )
        )
    begin = max(0.0, min(p.start for p in parts) - margin_s)
    finish = max(p.end for p in parts) + margin_s
    if duration_s > 0:
        finish = min(finish, duration_s)
    kind: PiiKind = next((k for k in KINDS if k == hit.kind), "number")
    return PiiFinding(
        kind=kind,
        text=stream.text[start:end],
        normalised=hit.normalised,
        start=round(begin, 3),
        end=round(max(finish, begin), 3),
        channel=stream.channel,
        stream_index=stream_index,
        segment_index=parts[0].segment_index,
        word_range=parts[0].word_range,
        confidence=hit.confidence,
        validated=hit.validated,
        reason=hit.reason,
        parts=tuple(parts),
    )


def find_pii_in_segments(
    segments: Sequence[Segment],
    *,
    names: Sequence[str] = (),
    margin_s: float = DEFAULT_MARGIN_S,
    stream_index: int | None = None,
    duration_s: float = 0.0,
) -> list[PiiFinding]:
    """Spoken PII in `segments` (of one audio stream), in time order."""
    findings: list[PiiFinding] = []
    for stream in _streams(segments):
        view = normalise(stream.text)
        cues = find_cues(view)
        hits = [
            *find_numbers(view, cues),
            *find_plates(view, cues),
            *find_emails(view, cues),
            *find_names(stream.text, names),
        ]
        for hit in _merge(hits):
            found = _finding(hit, stream, segments, margin_s, stream_index, duration_s)
            if found is not None:
                findings.append(found)
    return sorted(findings, key=lambda f: (f.start, f.end, f.channel or 0))


def find_pii(
    transcript: Transcript, *, names: Sequence[str] = (), margin_s: float = DEFAULT_MARGIN_S
) -> list[PiiFinding]:
    """Spoken PII in one stream's transcript, with mute spans inside its audio."""
    return find_pii_in_segments(
        transcript.segments,
        names=names,
        margin_s=margin_s,
        stream_index=transcript.stream_index,
        duration_s=transcript.duration_s,
    )


# --- transcript redaction -----------------------------------------------------------------


def _masked(text: str, ranges: Sequence[tuple[int, int]], mask: str) -> str:
    """Hidden characters (spaces kept) as `mask` each; a longer mask once per hidden run."""
    hidden = [False] * len(text)
    for a, b in ranges:
        for i in range(max(a, 0), min(b, len(text))):
            hidden[i] = not text[i].isspace()
    out: list[str] = []
    for i, ch in enumerate(text):
        if not hidden[i]:
            out.append(ch)
        elif len(mask) == 1 or i == 0 or not hidden[i - 1]:
            out.append(mask)
    return "".join(out)


def _ranges(index: int, findings: Sequence[PiiFinding]) -> list[tuple[int, int]]:
    return [p.char_range for f in findings for p in f.parts if p.segment_index == index]


def redact_segment_text(
    segment: Segment, index: int, findings: Sequence[PiiFinding], mask: str = MASK
) -> str:
    """`segment.text` (segment number `index`) with every character found replaced by `mask`."""
    ranges = _ranges(index, findings)
    if not ranges:
        return segment.text
    if not segment.words:
        return _masked(segment.text, ranges, mask)
    joined = _unit_text(segment)
    lead = len(joined) - len(joined.lstrip())
    if joined.strip() == segment.text.strip():
        core = _masked(joined.strip(), [(a - lead, b - lead) for a, b in ranges], mask)
        return segment.text.replace(segment.text.strip(), core, 1)
    # The text differs from its words (edited, converted): hide each heard piece in it.
    text = segment.text
    for a, b in ranges:
        piece = joined[a:b].strip()
        at = text.find(piece) if piece else -1
        if at >= 0:
            text = text[:at] + _masked(piece, [(0, len(piece))], mask) + text[at + len(piece) :]
    return text


def redact_segments(
    segments: Sequence[Segment], findings: Sequence[PiiFinding], mask: str = MASK
) -> list[Segment]:
    """Copies of `segments` with the found characters masked in their text and words."""
    out: list[Segment] = []
    for index, seg in enumerate(segments):
        ranges = _ranges(index, findings)
        copied = copy.deepcopy(seg)
        if ranges:
            copied.text = redact_segment_text(seg, index, findings, mask)
            offset = 0
            for word in copied.words:
                size = len(word.text)
                word.text = _masked(word.text, [(a - offset, b - offset) for a, b in ranges], mask)
                offset += size
        out.append(copied)
    return out


def redact_transcript(
    transcript: Transcript, findings: Sequence[PiiFinding], mask: str = MASK
) -> Transcript:
    """A copy of `transcript` with what `find_pii` found masked in every segment and word."""
    redacted = copy.copy(transcript)
    redacted.segments = redact_segments(transcript.segments, findings, mask)
    return redacted
