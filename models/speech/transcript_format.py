"""Transcripts as WebVTT, SRT, plain text and JSON.

Subtitle cues follow the segments, split at word boundaries when a segment is too long to
read at once. Doubtful segments stay in every format; WebVTT and plain text say why they
are doubtful (a NOTE block, a bracketed remark), SRT has no place for remarks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from models.speech.transcribe import Segment, Transcript, UntranscribedSpan

FORMATS = ("vtt", "srt", "txt", "json")
MAX_CUE_S = 7.0
MAX_CUE_CHARS = 84


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str
    segment: Segment


def timestamp(seconds: float, sep: str = ".") -> str:
    """HH:MM:SS.mmm (WebVTT) or HH:MM:SS,mmm (SRT)."""
    millis = max(0, int(round(seconds * 1000)))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def cues(segment: Segment, max_s: float = MAX_CUE_S, max_chars: int = MAX_CUE_CHARS) -> list[Cue]:
    """One cue per segment, or several split between words when it is long."""
    words = segment.words
    if not words or (segment.end - segment.start <= max_s and len(segment.text) <= max_chars):
        return [Cue(segment.start, segment.end, segment.text, segment)]
    out: list[Cue] = []
    group: list[int] = []
    for i, word in enumerate(words):
        if group:
            first = words[group[0]]
            text = "".join(words[j].text for j in (*group, i)).strip()
            if word.end - first.start > max_s or len(text) > max_chars:
                out.append(_cue(segment, group))
                group = []
        group.append(i)
    if group:
        out.append(_cue(segment, group))
    return out


def _cue(segment: Segment, group: list[int]) -> Cue:
    words = [segment.words[i] for i in group]
    return Cue(words[0].start, words[-1].end, "".join(w.text for w in words).strip(), segment)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _voice(transcript: Transcript, channel: int | None) -> str | None:
    """The label of the channel a segment was heard on, when channels were heard apart."""
    if channel is None:
        return None
    for entry in transcript.channels:
        if entry.get("channel") == channel:
            return str(entry.get("label") or f"channel {channel + 1}")
    return f"channel {channel + 1}"


def _untranscribed_note(transcript: Transcript, gap: UntranscribedSpan) -> str:
    where = _voice(transcript, gap.channel)
    on = f" on {where}" if where else ""
    return (f"NOTE untranscribed speech{on} {timestamp(gap.start)} --> {timestamp(gap.end)}: "
            "the voice-activity pass heard speech here but no words came out; listen")  # fmt: skip


def to_webvtt(transcript: Transcript) -> str:
    lines = ["WEBVTT", ""]
    lines += [
        "NOTE",
        f"recording {transcript.recording_id}, {transcript.stream_label}",
        f"language {transcript.language or 'unknown'}, model {transcript.model}, "
        f"status {transcript.status}",
        "",
    ]
    gaps = sorted(transcript.untranscribed, key=lambda g: g.start)
    for segment in transcript.segments:
        while gaps and gaps[0].start <= segment.start:
            lines += [_untranscribed_note(transcript, gaps.pop(0)), ""]
        if segment.doubtful:
            lines += [f"NOTE doubtful: {', '.join(segment.doubt_reasons)}", ""]
        voice = _voice(transcript, segment.channel)
        for cue in cues(segment):
            lines.append(f"{timestamp(cue.start)} --> {timestamp(cue.end)}")
            text = _vtt_escape(cue.text)
            lines.append(f"<v {_vtt_escape(voice)}>{text}" if voice else text)
            lines.append("")
    lines += [line for gap in gaps for line in (_untranscribed_note(transcript, gap), "")]
    return "\n".join(lines)


def to_srt(transcript: Transcript) -> str:
    lines: list[str] = []
    number = 0
    for segment in transcript.segments:
        voice = _voice(transcript, segment.channel)
        for cue in cues(segment):
            number += 1
            lines += [
                str(number),
                f"{timestamp(cue.start, ',')} --> {timestamp(cue.end, ',')}",
                f"[{voice}] {cue.text}" if voice else cue.text,
                "",
            ]
    return "\n".join(lines)


def to_text(transcript: Transcript, *, times: bool = True) -> str:
    lines = []
    events: list[tuple[float, str]] = []
    for segment in transcript.segments:
        line = segment.text
        voice = _voice(transcript, segment.channel)
        if voice:
            line = f"{voice}: {line}"
        if times:
            line = f"[{timestamp(segment.start)} --> {timestamp(segment.end)}] {line}"
        if segment.doubtful:
            line += f"  [doubtful: {', '.join(segment.doubt_reasons)}]"
        events.append((segment.start, line))
    for gap in transcript.untranscribed:
        where = _voice(transcript, gap.channel)
        on = f" on {where}" if where else ""
        events.append((gap.start, f"[{timestamp(gap.start)} --> {timestamp(gap.end)}] "
                                  f"[untranscribed speech{on}: listen]"))  # fmt: skip
    lines = [line for _, line in sorted(events, key=lambda e: e[0])]
    if not lines:
        lines.append(f"({transcript.status.replace('_', ' ')})")
    return "\n".join(lines) + "\n"


def to_json(transcript: Transcript) -> str:
    return json.dumps(transcript.to_dict(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def render(transcripts: Sequence[Transcript], fmt: str) -> str:
    """One stream in any format; several streams as labelled text or a JSON list."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "json":
        if len(transcripts) == 1:
            return to_json(transcripts[0])
        body = [t.to_dict() for t in transcripts]
        return json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if fmt == "txt":
        if len(transcripts) == 1:
            return to_text(transcripts[0])
        return "\n".join(f"== {t.stream_label} ==\n{to_text(t)}" for t in transcripts)
    if len(transcripts) != 1:
        raise ValueError(f"{fmt} holds one audio stream; choose one of {len(transcripts)}")
    return to_webvtt(transcripts[0]) if fmt == "vtt" else to_srt(transcripts[0])
