"""Transcript output formats and the doubt rules, on hand-built transcripts."""

from __future__ import annotations

import json

import pytest

from models.speech.transcribe import Segment, Transcript, Word
from models.speech.transcript_format import cues, render, timestamp, to_srt, to_text, to_webvtt
from models.speech.trust import (
    HIGH_COMPRESSION,
    LOW_CONFIDENCE,
    NO_VAD_SPEECH,
    REPETITION,
    DoubtRules,
    flag_repeated_segments,
    judge_segment,
    longest_loop,
    to_simplified,
    units,
)


def seg(
    start: float,
    end: float,
    text: str,
    words: list[Word] | None = None,
    **extra: object,
) -> Segment:
    values: dict[str, object] = {
        "start": start,
        "end": end,
        "text": text,
        "language": "en",
        "language_probability": 0.98,
        "avg_logprob": -0.2,
        "no_speech_prob": 0.01,
        "compression_ratio": 1.0,
        "confidence": 0.9,
        "speech_ratio": 0.95,
        "words": words or [],
    }
    values.update(extra)
    return Segment(**values)  # type: ignore[arg-type]


def spaced_words(start: float, text: str, step: float = 0.5) -> list[Word]:
    return [
        Word(round(start + i * step, 3), round(start + (i + 1) * step, 3), f" {w}", 0.9)
        for i, w in enumerate(text.split())
    ]


def transcript(segments: list[Segment], **extra: object) -> Transcript:
    values: dict[str, object] = {
        "recording_id": "rec-1",
        "stream_index": 1,
        "stream_label": "audio 1, stream #1",
        "status": "done",
        "language": "en",
        "model": "base",
        "segments": segments,
    }
    values.update(extra)
    return Transcript(**values)  # type: ignore[arg-type]


def test_timestamps() -> None:
    assert timestamp(0) == "00:00:00.000"
    assert timestamp(3723.4567) == "01:02:03.457"
    assert timestamp(59.9996, ",") == "00:01:00,000"
    assert timestamp(-1) == "00:00:00.000"


def test_webvtt_escapes_notes_doubt_and_splits_long_segments() -> None:
    long_text = " ".join(f"word{i}" for i in range(30))
    long = seg(10.0, 25.0, long_text, spaced_words(10.0, long_text))
    doubtful = seg(30.0, 31.0, "a <b> & c", doubtful=True, doubt_reasons=[REPETITION])
    vtt = to_webvtt(transcript([long, doubtful]))

    assert vtt.startswith("WEBVTT\n\nNOTE\nrecording rec-1, audio 1, stream #1\n")
    assert "a &lt;b&gt; &amp; c" in vtt and "<b>" not in vtt
    assert "NOTE doubtful: repetition\n\n00:00:30.000 --> 00:00:31.000" in vtt
    times = [line for line in vtt.splitlines() if "-->" in line]
    assert len(times) >= 3  # the 15-second segment became several cues
    assert times[0].startswith("00:00:10.000 --> ")
    for cue in cues(long):
        assert cue.end - cue.start <= 7.0 + 1e-9 and len(cue.text) <= 84
    assert " ".join(c.text for c in cues(long)) == long_text


def test_srt_numbering_and_text() -> None:
    srt = to_srt(transcript([seg(0.5, 2.0, "hello there"), seg(3.0, 4.25, "again")]))
    assert srt == (
        "1\n00:00:00,500 --> 00:00:02,000\nhello there\n\n2\n00:00:03,000 --> 00:00:04,250\nagain\n"
    )


def test_plain_text_and_empty_transcripts() -> None:
    odd = seg(3, 4, "odd", doubtful=True, doubt_reasons=[LOW_CONFIDENCE])
    text = to_text(transcript([seg(1, 2, "fine"), odd]))
    assert text.splitlines() == [
        "[00:00:01.000 --> 00:00:02.000] fine",
        "[00:00:03.000 --> 00:00:04.000] odd  [doubtful: low_confidence]",
    ]
    assert to_text(transcript([], status="no_audio")) == "(no audio)\n"


def test_json_round_trip_and_multi_stream_rules() -> None:
    t1 = transcript([seg(0, 1, "你好", [Word(0, 0.5, "你", 0.9), Word(0.5, 1, "好", 0.8)])])
    t2 = transcript([seg(0, 1, "hi")], stream_index=2, stream_label="audio 2, stream #2")
    assert Transcript.from_dict(json.loads(render([t1], "json"))) == t1
    both = json.loads(render([t1, t2], "json"))
    assert [d["stream_index"] for d in both] == [1, 2]
    assert "你好" in render([t1], "json")  # not \\u escaped
    txt = render([t1, t2], "txt")
    assert "== audio 1, stream #1 ==" in txt and "== audio 2, stream #2 ==" in txt
    with pytest.raises(ValueError, match="one audio stream"):
        render([t1, t2], "vtt")
    with pytest.raises(ValueError, match="unknown format"):
        render([t1], "docx")


def test_units_and_loops() -> None:
    assert units("Hello, hello WORLD") == ["hello", "hello", "world"]
    assert units("我们去 OK 吗") == ["我", "们", "去", "ok", "吗"]
    assert longest_loop("a b a b a b c".split()) == (2, 3)
    assert longest_loop(list("哈哈哈哈哈哈")) == (1, 6)
    assert longest_loop("no loop here at all".split()) == (0, 0)


def test_judge_segment_reasons() -> None:
    rules = DoubtRules()
    clean = seg(0, 3, "I was at the station at nine.", speech_ratio=0.9)
    judge_segment(clean, rules)
    assert not clean.doubtful and clean.doubt_reasons == []

    loop = seg(0, 30, "I'm going to go. " * 12, speech_ratio=0.9)
    judge_segment(loop, rules)
    assert set(loop.doubt_reasons) >= {REPETITION, HIGH_COMPRESSION}

    quiet = seg(0, 3, "Thank you for watching.", speech_ratio=0.05)
    judge_segment(quiet, rules)
    assert quiet.doubt_reasons == [NO_VAD_SPEECH]

    unsure = seg(0, 3, "mumble", confidence=0.2)
    judge_segment(unsure, rules)
    assert unsure.doubt_reasons == [LOW_CONFIDENCE]

    said_twice = seg(0, 3, "no no", speech_ratio=0.9)  # a real, short repetition
    judge_segment(said_twice, rules)
    assert not said_twice.doubtful


def test_identical_consecutive_segments_are_flagged() -> None:
    segments = [seg(i, i + 1, "Thank you.") for i in range(3)] + [seg(5, 6, "Bye.")]
    flag_repeated_segments(segments, DoubtRules())
    assert [s.doubtful for s in segments] == [True, True, True, False]
    pair = [seg(0, 1, "Yes."), seg(1, 2, "Yes.")]
    flag_repeated_segments(pair, DoubtRules())
    assert not any(s.doubtful for s in pair)


def test_simplified_keeps_digits_and_latin() -> None:
    assert to_simplified("廣州市 這是123號 ABC") == "广州市 这是123号 ABC"
    assert to_simplified("电话13812345678") == "电话13812345678"


def test_voices_heard_apart_are_labelled_in_every_format() -> None:
    from models.speech.transcribe import UntranscribedSpan

    transcript = Transcript(
        recording_id="r1", stream_index=0, stream_label="audio 1", status="done",
        channels=[{"channel": 0, "label": "left"}, {"channel": 1, "label": "right"}],
        segments=[seg(1.0, 2.0, "Who are you?", channel=0),
                  seg(2.5, 3.5, "A witness.", channel=1)],
        untranscribed=[UntranscribedSpan(4.0, 5.5, 1)],
    )  # fmt: skip
    vtt = to_webvtt(transcript)
    assert "<v left>Who are you?" in vtt and "<v right>A witness." in vtt
    assert "NOTE untranscribed speech on right 00:00:04.000 --> 00:00:05.500" in vtt
    srt = to_srt(transcript)
    assert "[left] Who are you?" in srt and "[right] A witness." in srt
    text = to_text(transcript)
    assert "left: Who are you?" in text and "[untranscribed speech on right: listen]" in text
    assert text.index("A witness") < text.index("untranscribed")
    assert json.loads(render([transcript], "json"))["segments"][1]["channel"] == 1
