"""What the pages show, as plain data for the templates: transcript items, case rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from models.speech.transcribe import Transcript
from storage.db.schema import Recording


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


@dataclass(frozen=True)
class Bar:
    """A span on the case's time axis, as percentages of the axis width."""

    left: float
    width: float
    label: str
    href: str = ""


@dataclass
class Lane:
    name: str
    bars: list[Bar] = field(default_factory=list)


@dataclass
class Timeline:
    start: str
    end: str
    lanes: list[Lane]
    steps: list[Bar]
    gaps: list[Bar]


def _when(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def timeline(recordings: list[Recording], steps: list[dict[str, Any]]) -> Timeline | None:
    """The recordings of each device on one time axis, with the steps behind them and
    the gaps of full-recording steps marked: what the step lights summarise, drawn."""
    spans: list[tuple[str, datetime, datetime, Recording]] = []
    for rec in recordings:
        start = _when(rec.capture_start)
        if start is None or not rec.duration_s:
            continue
        spans.append((rec.device_id or "?", start, start + timedelta(seconds=rec.duration_s), rec))
    moments = [s for _, s, _, _ in spans] + [e for _, _, e, _ in spans]
    for step in steps:
        moments += [t for t in (_when(step.get("start")), _when(step.get("end"))) if t]
    if not moments:
        return None
    lo, hi = min(moments), max(moments)
    total = max((hi - lo).total_seconds(), 1.0)

    def bar(a: datetime, b: datetime, label: str, href: str = "") -> Bar:
        left = 100 * (a - lo).total_seconds() / total
        width = max(100 * (b - a).total_seconds() / total, 0.3)
        return Bar(round(left, 3), round(min(width, 100 - left), 3), label, href)

    lanes: dict[str, Lane] = {}
    for device, a, b, rec in sorted(spans, key=lambda s: (s[0], s[1])):
        lane = lanes.setdefault(device, Lane(device))
        lane.bars.append(bar(a, b, f"{rec.original_name} {a:%H:%M:%S}–{b:%H:%M:%S}",
                             f"/recordings/{rec.id}"))  # fmt: skip
    step_bars: list[Bar] = []
    gap_bars: list[Bar] = []
    for step in steps:
        s_start, s_end = _when(step.get("start")), _when(step.get("end"))
        if s_start is None:
            continue
        label = f"{step.get('key')} {step.get('kind_name') or ''}"
        step_bars.append(bar(s_start, s_end or s_start, label))
        for gap in step.get("gaps", []):
            ga, gb = _when(gap.get("start")), _when(gap.get("end"))
            if ga and gb:
                gap_bars.append(bar(ga, gb, str(gap.get("message", ""))))
    return Timeline(lo.isoformat(), hi.isoformat(), list(lanes.values()), step_bars, gap_bars)
