"""What was said in a recording linked to a step, searchable, and what was heard in it.

Shared by the required statements (`cases.statements`) and the language rules
(`cases.language`): the transcripts of a recording are loaded once, split into voices
(a stream, or each channel heard apart), tokenised (`cases.phrases`) and searched only in
the part of the recording that the link gives to the step (give or take the clock-drift
tolerance).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from cases.phrases import Match, Phrase, Token, best_matches, heard_text, segment_tokens
from cases.times import as_utc, iso
from models.speech.transcribe import Segment
from models.speech.transcripts import load_transcripts, transcript_rows
from storage.db.schema import Recording

if TYPE_CHECKING:
    from cases.compliance import LinkedPiece


@dataclass(frozen=True)
class Voice:
    """What one voice said in one recording: a stream, or one channel of it."""

    segments: tuple[Segment, ...]
    tokens: tuple[Token, ...]
    stream_index: int | None
    channel: int | None


@dataclass
class Speech:
    """A recording linked to a step, with what can be searched in it."""

    recording_id: str
    name: str
    media: str  # which media plays it: mezzanine (video) or audio
    capture_start: datetime | None
    lo_s: float  # the part linked to the step, in seconds into the recording
    hi_s: float
    voices: tuple[Voice, ...] | None  # None: not transcribed (yet)
    note: str | None = None
    # Matches over the whole recording, shared by every Speech of the same transcripts.
    _matches: dict[tuple[Any, ...], list[tuple[Voice, Match]]] = field(
        default_factory=dict, repr=False
    )

    @property
    def label(self) -> str:
        return PurePath(self.name).stem or self.recording_id

    def hear(
        self, key: str, phrases: Sequence[Phrase], min_score: float
    ) -> list[tuple[Voice, Match]]:
        """Every place in the linked part where one of `phrases` is heard, in time order."""
        if self.voices is None:
            return []
        wanted = (key, tuple(p.text for p in phrases), min_score)
        every = self._matches.get(wanted)
        if every is None:
            every = sorted(
                ((voice, m) for voice in self.voices
                 for m in best_matches(phrases, voice.tokens, min_score)),
                key=lambda vm: vm[1].start,
            )  # fmt: skip
            self._matches[wanted] = every
        return [(v, m) for v, m in every if self.lo_s <= m.start <= self.hi_s]

    def at(self, seconds: float) -> datetime | None:
        return (
            None if self.capture_start is None else self.capture_start + timedelta(seconds=seconds)
        )


@dataclass(frozen=True)
class Heard:
    """A statement (or an expression) heard in a recording."""

    recording_id: str
    recording: str
    stream_index: int | None
    channel: int | None
    start_s: float
    end_s: float
    at: datetime | None
    words: str
    phrase: str
    score: float
    doubtful: bool
    media: str = "mezzanine"

    @property
    def play(self) -> str:
        # The clip view at the statement's start, beside its transcript (and logged as
        # any viewing is; a case that requires a reason asks for it first).
        return f"/recordings/{self.recording_id}?t={self.start_s:.2f}"

    def to_json(self) -> dict[str, Any]:
        return {
            "recording_id": self.recording_id,
            "recording": self.recording,
            "stream_index": self.stream_index,
            "channel": self.channel,
            "start_s": round(self.start_s, 2),
            "end_s": round(self.end_s, 2),
            "at": iso(self.at),
            "words": self.words,
            "phrase": self.phrase,
            "score": self.score,
            "doubtful": self.doubtful,
            "play": self.play,
        }


def heard(speech: Speech, voice: Voice, m: Match) -> Heard:
    segs = {voice.tokens[i].segment for i in range(m.first, m.last + 1)}
    return Heard(
        recording_id=speech.recording_id,
        recording=speech.name,
        stream_index=voice.stream_index,
        channel=voice.channel,
        start_s=m.start,
        end_s=m.end,
        at=speech.at(m.start),
        words=heard_text(voice.segments, voice.tokens, m.first, m.last),
        phrase=m.phrase,
        score=m.score,
        doubtful=any(voice.segments[s].doubtful for s in segs),
        media=speech.media,
    )


def voices_of(segments: Sequence[Segment], stream_index: int | None) -> list[Voice]:
    """One voice per channel heard apart (an interview room), else the stream as one."""
    channels: dict[int | None, list[Segment]] = {}
    for seg in segments:
        channels.setdefault(seg.channel, []).append(seg)
    return [
        Voice(tuple(segs), tuple(segment_tokens(segs)), stream_index, ch)
        for ch, segs in channels.items()
    ]


@dataclass
class _Heard:
    voices: tuple[Voice, ...] | None
    note: str | None
    matches: dict[tuple[Any, ...], list[tuple[Voice, Match]]]


# Tokenised transcripts and what was found in them, per recording and transcript rows (a
# new transcription makes new rows, so nothing stale is served): the case page and the
# statistics ask again and again. Bounded; shared by the API's worker threads.
_HEARD: OrderedDict[tuple[str, tuple[str, ...]], _Heard] = OrderedDict()
_HEARD_MAX = 128
_HEARD_LOCK = threading.Lock()


def _heard_in(session: Session, rec: Recording) -> _Heard:
    rows = transcript_rows(session, rec.id)
    key = (rec.id, tuple(r.id for r in rows))
    with _HEARD_LOCK:
        hit = _HEARD.get(key)
        if hit is not None:
            _HEARD.move_to_end(key)
            return hit
    transcripts = load_transcripts(session, rec.id) if rows else []
    done = [t for t in transcripts if t.status in ("done", "no_speech")]
    if done:
        voices = tuple(v for t in done for v in voices_of(t.segments, t.stream_index))
        heard_now = _Heard(voices, None, {})
    else:
        heard_now = _Heard(None, "no audio" if transcripts else "no transcript yet", {})
    with _HEARD_LOCK:
        _HEARD[key] = heard_now
        while len(_HEARD) > _HEARD_MAX:
            _HEARD.popitem(last=False)
    return heard_now


def speech_of(
    session: Session, rec: Recording, piece: LinkedPiece, tolerance_s: float, cache: dict[str, Any]
) -> Speech:
    """The searchable speech of one linked piece; transcripts are loaded once per recording."""
    if rec.id not in cache:
        cache[rec.id] = _heard_in(session, rec)
    found: _Heard = cache[rec.id]
    start = as_utc(rec.capture_start) if rec.capture_start is not None else None
    lo, hi = -math.inf, math.inf
    if piece.span is not None and start is not None:
        lo = (piece.span.start - start).total_seconds() - tolerance_s
        hi = (piece.span.end - start).total_seconds() + tolerance_s
    return Speech(
        recording_id=rec.id,
        name=rec.original_name,
        media="audio" if rec.media_kind == "audio" else "mezzanine",
        capture_start=start,
        lo_s=lo,
        hi_s=hi,
        voices=found.voices,
        note=found.note,
        _matches=found.matches,
    )
