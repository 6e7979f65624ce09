"""What the pages show, as plain data for the templates: transcript items, case rows."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.speech.transcribe import Transcript


@dataclass(frozen=True)
class WordItem:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class SegmentItem:
    start: float
    end: float
    words: list[WordItem]
    doubtful: bool = False
    reasons: str = ""
    channel: int | None = None
    kind: str = "segment"


@dataclass(frozen=True)
class GapItem:
    start: float
    end: float
    channel: int | None = None
    kind: str = "gap"


@dataclass
class StreamView:
    index: int | None
    label: str
    language: str | None
    status: str
    items: list[SegmentItem | GapItem] = field(default_factory=list)


def _r(x: float) -> float:
    return round(float(x), 3)


def stream_view(transcript: Transcript) -> StreamView:
    """The transcript as segments of words and untranscribed gaps, in time order."""
    items: list[SegmentItem | GapItem] = []
    for seg in transcript.segments:
        words = [WordItem(_r(w.start), _r(w.end), w.text) for w in seg.words if w.text.strip()]
        if not words and seg.text.strip():
            words = [WordItem(_r(seg.start), _r(seg.end), seg.text)]
        items.append(
            SegmentItem(
                start=_r(seg.start),
                end=_r(seg.end),
                words=words,
                doubtful=seg.doubtful,
                reasons=", ".join(seg.doubt_reasons),
                channel=seg.channel,
            )
        )
    for gap in transcript.untranscribed:
        items.append(GapItem(_r(gap.start), _r(gap.end), gap.channel))
    items.sort(key=lambda item: (item.start, item.kind))
    return StreamView(
        transcript.stream_index,
        transcript.stream_label,
        transcript.language,
        transcript.status,
        items,
    )


def clock(seconds: float | None) -> str:
    """h:mm:ss or m:ss."""
    if seconds is None:
        return "–"
    total = int(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
