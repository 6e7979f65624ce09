"""Speech is never lost silently: a second pass over wordless speech, then untranscribed spans.

A decoder that skips a sentence cannot be provoked on demand with real audio (the fault
that did it is fixed), so these tests drop the segments of one known sentence from the
decoder's output, the one fault injected here; the VAD, the second pass and the formats
are real.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.speech import transcribe as transcribe_module
from models.speech.speech_regions import FRAME_S, uncovered_speech
from models.speech.transcribe import StreamResult, TranscribeOptions, Transcript, transcribe_chunks
from models.speech.transcript_format import render
from models.speech.whisper import LoadedWhisper
from tests.models.speech_fixtures import base_model, load_16k, sequence, speech

pytestmark = pytest.mark.media


def test_uncovered_speech_finds_wordless_stretches() -> None:
    probs = np.zeros(int(20 / FRAME_S), np.float32)
    probs[int(1 / FRAME_S) : int(5 / FRAME_S)] = 0.9  # words cover it
    probs[int(8 / FRAME_S) : int(10.5 / FRAME_S)] = 0.9  # no words: lost
    probs[int(12 / FRAME_S) : int(12.5 / FRAME_S)] = 0.9  # too short to report
    gaps = uncovered_speech(probs, 0.5, [(1.0, 2.5), (2.6, 5.0)])
    assert len(gaps) == 1
    start, end = gaps[0]
    assert start == pytest.approx(8.0, abs=0.05) and end == pytest.approx(10.5, abs=0.05)
    assert uncovered_speech(probs, 0.5, [(0.9, 5.1), (7.9, 10.6), (12.0, 12.5)]) == []


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedWhisper:
    return base_model(tmp_path_factory)


@pytest.fixture(scope="module")
def audio() -> tuple[np.ndarray, float, float]:
    """JFK, a pause, then the LibriSpeech sentence; where the second sentence lies."""
    jfk = load_16k(speech("en/jfk.flac"))
    libri = load_16k(speech("en/librispeech-1995-1837-0001.wav"))
    start = 1.0 + jfk.shape[0] / 16000 + 3.0
    return sequence([1.0, jfk, 3.0, libri, 1.0]), start, start + libri.shape[0] / 16000


def _dropping(
    monkeypatch: pytest.MonkeyPatch, start: float, end: float, *, second_pass_too: bool
) -> list[int]:
    """Make the decoder lose every segment inside [start, end]; count the calls."""
    real = transcribe_module._sequential
    calls: list[int] = []

    def lossy(loaded: Any, window: Any, chunks: Any, opts: Any) -> Iterator[Any]:
        calls.append(len(chunks))
        second = len(calls) > 1
        for raw in real(loaded, window, chunks, opts):
            inside = start - 0.5 <= (raw.start + raw.end) / 2 <= end + 0.5
            if inside and (not second or second_pass_too):
                continue
            yield raw

    monkeypatch.setattr(transcribe_module, "_sequential", lossy)
    return calls


def _run(model: LoadedWhisper, audio: np.ndarray) -> StreamResult:
    return transcribe_chunks(model, [audio], TranscribeOptions())


def test_second_pass_recovers_a_dropped_sentence(
    model: LoadedWhisper, audio: tuple[np.ndarray, float, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    samples, start, end = audio
    calls = _dropping(monkeypatch, start, end, second_pass_too=False)
    result = _run(model, samples)
    assert len(calls) >= 2, "no second pass ran"
    recovered = [s for s in result.segments if s.second_pass]
    assert recovered and "sorrow" in " ".join(s.text for s in recovered).lower()
    assert all(start - 0.6 <= s.start and s.end <= end + 0.6 for s in recovered)
    assert result.untranscribed == []
    # JFK was heard by the first pass and is not repeated by the second.
    assert sum("fellow" in s.text.lower() for s in result.segments) == 1


def test_speech_without_words_is_marked_untranscribed(
    model: LoadedWhisper,
    audio: tuple[np.ndarray, float, float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    samples, start, end = audio
    _dropping(monkeypatch, start, end, second_pass_too=True)
    result = _run(model, samples)
    assert "sorrow" not in " ".join(s.text for s in result.segments).lower()
    assert len(result.untranscribed) == 1
    gap = result.untranscribed[0]
    assert start - 0.6 <= gap.start < gap.end <= end + 0.6
    assert gap.end - gap.start > 0.6 * (end - start)

    transcript = Transcript(
        recording_id="r1",
        stream_index=0,
        stream_label="audio 1",
        status=result.status,
        segments=result.segments,
        untranscribed=result.untranscribed,
    )
    data = json.loads(render([transcript], "json"))
    assert data["untranscribed"] == [{"start": gap.start, "end": gap.end, "channel": None}]
    vtt = render([transcript], "vtt")
    notes = [line for line in vtt.splitlines() if line.startswith("NOTE untranscribed")]
    assert len(notes) == 1 and "listen" in notes[0]
    # The note sits in time order: after JFK's cues.
    assert vtt.index("NOTE untranscribed") > vtt.lower().index("fellow")
    assert "[untranscribed speech: listen]" in render([transcript], "txt")
    assert Transcript.from_dict(data).untranscribed == result.untranscribed


def test_noise_and_silence_still_give_nothing(model: LoadedWhisper, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    noise = (0.05 * rng.standard_normal(16000 * 20)).astype(np.float32)
    result = _run(model, np.concatenate([np.zeros(16000 * 10, np.float32), noise]))
    assert result.segments == [] and result.untranscribed == []
