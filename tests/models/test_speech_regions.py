"""The VAD as the transcriber uses it: identical to faster-whisper's, plus cut points."""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps, get_vad_model

from models.speech.speech_regions import (
    FRAME,
    SAMPLE_RATE,
    VadSettings,
    exact_seconds,
    pack_chunks,
    quiet_cut,
    speech_bounds,
    speech_chunks,
    speech_probabilities,
    speech_ratio,
)
from tests.models.speech_fixtures import load_16k, sequence, speech


@pytest.fixture(scope="module")
def talk() -> np.ndarray:
    """About a minute of speech and pauses mixed."""
    jfk = load_16k(speech("en/jfk.flac"))
    libri = load_16k(speech("en/librispeech-1995-1837-0001.wav"))
    return sequence([1.0, jfk, 3.0, libri, 0.5, jfk, 2.5, libri, 0.2, jfk, 2.0])


def test_probabilities_equal_faster_whisper(talk: np.ndarray) -> None:
    # Longer than one ONNX batch (10,000 frames), where the model state is handed over.
    long = np.concatenate([talk] * 6)[: 10_200 * FRAME + 77]
    padded = np.pad(long, (0, FRAME - long.shape[0] % FRAME))
    expected = np.asarray(get_vad_model()(padded)).reshape(-1)
    assert np.array_equal(speech_probabilities(long), expected)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"max_speech_duration_s": 30.0, "min_silence_duration_ms": 160},
        {"threshold": 0.6, "speech_pad_ms": 100, "min_speech_duration_ms": 250},
    ],
)
def test_chunks_equal_faster_whisper(talk: np.ndarray, options: dict[str, float]) -> None:
    probs = speech_probabilities(talk)
    ours = speech_chunks(probs, talk.shape[0], VadSettings(**options))  # type: ignore[arg-type]
    assert ours == get_speech_timestamps(talk, VadOptions(**options))
    assert len(ours) >= 3


def test_packing_matches_faster_whisper_batches(talk: np.ndarray) -> None:
    options = VadSettings(max_speech_duration_s=30.0, min_silence_duration_ms=160)
    chunks = speech_chunks(speech_probabilities(talk), talk.shape[0], options)
    audio_chunks, metadata = collect_chunks(talk, chunks, max_duration=30.0)
    packed = pack_chunks(chunks)
    assert [(a / SAMPLE_RATE, (b - a) / SAMPLE_RATE) for a, b in packed] == [
        (m["offset"], m["duration"]) for m in metadata
    ]
    assert [b - a for a, b in packed] == [c.shape[0] for c in audio_chunks]
    assert len(packed) >= 2


def test_exact_seconds_round_trip() -> None:
    for sample in [0, 1, 1599, 48_000, 123_457, 987_654_321]:
        assert int(exact_seconds(sample) * SAMPLE_RATE) == sample


def test_quiet_cut_prefers_the_longest_pause() -> None:
    probs = np.full(1000, 0.9, dtype=np.float32)
    probs[100:110] = 0.05  # short pause
    probs[600:700] = 0.05  # long pause
    assert quiet_cut(probs, 50, 900, 0.35) == 650
    assert quiet_cut(probs, 50, 90, 0.35) in range(50, 90)  # no pause: least speech-like
    probs[70] = 0.4
    assert quiet_cut(probs, 50, 90, 0.35) == 70


def test_ratio_and_bounds() -> None:
    frame_s = FRAME / SAMPLE_RATE
    probs = np.zeros(100, dtype=np.float32)
    probs[40:60] = 0.9
    assert speech_ratio(probs, 0.0, 100 * frame_s, 0.5) == pytest.approx(0.2)
    assert speech_ratio(probs, 0.0, 30 * frame_s, 0.5) == 0.0
    assert speech_bounds(probs, 0.0, 100 * frame_s, 0.5) == pytest.approx(
        (40 * frame_s, 60 * frame_s)
    )
    assert speech_bounds(probs, 0.0, 30 * frame_s, 0.5) is None
