"""Transcription of real speech, silence and noise with the default (base) model.

Accuracy yardsticks, each allowed 1.5x:
- English: Whisper base, LibriSpeech test-clean WER 5.0% (Radford et al., "Robust Speech
  Recognition via Large-Scale Weak Supervision", 2022, arXiv:2212.04356, Appendix D.1.1).
  Limit 7.5%.
- Mandarin: Whisper base, AISHELL-1 test CER 22.196% with the language set to Chinese,
  punctuation removed and output converted to simplified characters (yeyupiaoling/
  Whisper-Finetune README, table "原始模型字错率测试表"). Limit 33.3%.
The clips are few (about 70 English words, 25 Mandarin characters), so these are sanity
bounds on the whole pipeline (VAD, windows, decoding, conversion), not a benchmark.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from models.speech.audio import SAMPLE_RATE, decode_audio_chunks, list_audio_streams
from models.speech.speech_regions import pack_chunks, speech_chunks, speech_probabilities
from models.speech.transcribe import StreamResult, TranscribeOptions, transcribe_chunks
from models.speech.trust import to_simplified
from models.speech.whisper import LoadedWhisper
from tests.models.speech_fixtures import (
    REFERENCES,
    base_model,
    cer,
    channel,
    load_16k,
    make_silence,
    make_street_noise,
    sequence,
    speech,
    wer,
    write_wav,
)

WHISPER_BASE_LIBRISPEECH_WER = 0.050
WHISPER_BASE_AISHELL_CER = 0.22196


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedWhisper:
    return base_model(tmp_path_factory)


def transcribe_file(
    model: LoadedWhisper, path: Path, options: TranscribeOptions | None = None
) -> StreamResult:
    stream = list_audio_streams(path)[0]
    return transcribe_chunks(
        model, decode_audio_chunks(path, stream.index), options or TranscribeOptions()
    )


def _words_in_order(result: StreamResult) -> None:
    last = 0.0
    for seg in result.segments:
        assert seg.start <= seg.end
        for word in seg.words:
            assert seg.start - 1e-6 <= word.start <= word.end <= seg.end + 1e-6
            assert word.start >= last - 1e-6
            last = word.start


def test_english_wer_and_timing_across_windows(model: LoadedWhisper, tmp_path: Path) -> None:
    jfk = load_16k(speech("en/jfk.flac"))
    libri = load_16k(speech("en/librispeech-1995-1837-0001.wav"))
    stereo = speech("en/stereo_diarization.wav")
    left, right = channel(stereo, 0), channel(stereo, 1)
    audio = sequence([4.0, jfk, 6.0, libri, 6.0, left, 6.0, right, 2.0])
    libri_at = 4.0 + jfk.shape[0] / SAMPLE_RATE + 6.0
    path = write_wav(tmp_path / "english.wav", audio)

    # 30-second windows force cuts inside this 54-second file: they must fall in pauses.
    result = transcribe_file(model, path, TranscribeOptions(window_s=30.0))

    assert result.windows >= 2
    refs = [REFERENCES[k] for k in ("en/jfk.flac", "en/librispeech-1995-1837-0001.wav")]
    refs += [REFERENCES["left"], REFERENCES["right"]]
    hyp = " ".join(s.text for s in result.segments)
    error = wer([" ".join(refs)], [hyp])
    assert error <= 1.5 * WHISPER_BASE_LIBRISPEECH_WER, (error, hyp)
    assert result.language == "en"
    assert {s.language for s in result.segments} == {"en"}
    # The first word after four seconds of silence starts when the speech does.
    first = result.segments[0].words[0]
    assert 4.0 <= first.start <= 4.6, first
    libri_first = next(s for s in result.segments if s.text.lower().startswith("it was the"))
    assert libri_at - 0.1 <= libri_first.start <= libri_at + 0.6, libri_first
    _words_in_order(result)
    assert not [s for s in result.segments if s.doubtful], "clean speech flagged doubtful"
    assert 25.0 < result.speech_s < 45.0


def test_mandarin_cer_simplified(model: LoadedWhisper, tmp_path: Path) -> None:
    keys = ("zh/aishell-BAC009S0724W0121.wav", "zh/BAC009S0764W0121.wav")
    audio = sequence([load_16k(speech(keys[0])), 2.0, load_16k(speech(keys[1]))])
    result = transcribe_file(model, write_wav(tmp_path / "mandarin.wav", audio))

    hyp = "".join(s.text for s in result.segments)
    error = cer(["".join(REFERENCES[k] for k in keys)], [hyp])
    assert error <= 1.5 * WHISPER_BASE_AISHELL_CER, (error, hyp)
    assert result.language == "zh"
    # The first clip comes out of the model in traditional characters; it must not stay so.
    assert to_simplified(hyp) == hyp
    for seg in result.segments:
        assert seg.text == "".join(w.text for w in seg.words)
    _words_in_order(result)


@pytest.mark.parametrize("kind", ["silence", "street_noise"])
def test_a_minute_without_speech_gives_no_words(
    model: LoadedWhisper, tmp_path: Path, kind: str
) -> None:
    make = make_silence if kind == "silence" else make_street_noise
    path = make(tmp_path / f"{kind}.wav", 60.0)
    assert np.abs(load_16k(path)).max() > 0.05 or kind == "silence"

    result = transcribe_file(model, path)

    assert result.segments == []
    assert result.status == "no_speech"
    assert result.speech_s == 0.0
    assert result.duration_s == pytest.approx(60.0, abs=0.1)


def test_batched_code_switching_labels_each_window(model: LoadedWhisper, tmp_path: Path) -> None:
    jfk = load_16k(speech("en/jfk.flac"))
    libri = load_16k(speech("en/librispeech-1995-1837-0001.wav"))
    zh1 = load_16k(speech("zh/aishell-BAC009S0724W0121.wav"))
    zh2 = load_16k(speech("zh/BAC009S0764W0121.wav"))
    audio = sequence([jfk, 1.0, libri, 1.0, libri, 3.0, zh1, 1.0, zh2])
    mandarin_at = (jfk.shape[0] + 2 * libri.shape[0]) / SAMPLE_RATE + 5.0
    options = TranscribeOptions(batch_size=4)
    # Precondition: the English fills the first 30-second batch window, Mandarin the next.
    vad = options.vad_settings()
    chunks = speech_chunks(speech_probabilities(audio), audio.shape[0], vad)
    windows = pack_chunks(chunks)
    first_zh = next(i for i, c in enumerate(chunks) if c["end"] / SAMPLE_RATE > mandarin_at)
    cut = sum(c["end"] - c["start"] for c in chunks[:first_zh])
    assert [a for a, _ in windows] == [0, cut], "the clips no longer split into two windows"

    result = transcribe_file(model, write_wav(tmp_path / "mixed.wav", audio), options)

    early = [s for s in result.segments if s.end < mandarin_at - 1.0]
    late = [s for s in result.segments if s.start > mandarin_at - 0.5]
    assert early and late and len(early) + len(late) == len(result.segments)
    assert {s.language for s in early} == {"en"}
    assert {s.language for s in late} == {"zh"}
    # Mandarin words are characters, not one "word" per window (faster-whisper splits by
    # the file's language), and so the segments sit where the Mandarin is.
    assert all(len(w.text.strip()) <= 4 for s in late for w in s.words)
    assert [s.start for s in late] == sorted(s.start for s in late)
    assert set(result.languages) == {"en", "zh"}
    assert result.language == "en"  # more English seconds than Mandarin
    hyp = "".join(s.text for s in late)
    refs = REFERENCES["zh/aishell-BAC009S0724W0121.wav"] + REFERENCES["zh/BAC009S0764W0121.wav"]
    assert cer([refs], [hyp]) <= 1.5 * WHISPER_BASE_AISHELL_CER, hyp
    _words_in_order(result)


@pytest.mark.slow
def test_sequential_code_switching(model: LoadedWhisper, tmp_path: Path) -> None:
    jfk = load_16k(speech("en/jfk.flac"))
    libri = load_16k(speech("en/librispeech-1995-1837-0001.wav"))
    zh1 = load_16k(speech("zh/aishell-BAC009S0724W0121.wav"))
    zh2 = load_16k(speech("zh/BAC009S0764W0121.wav"))
    # More than 30 s of each language, so each fills its own decoding window.
    parts: list[np.ndarray | float] = [jfk, 1.0, libri, 1.0, jfk, 1.0, libri, 3.0]
    parts += [zh1, 1.0, zh2, 1.0, zh1, 1.0, zh2, 1.0, zh1, 1.0, zh2, 1.0, zh1, 1.0, zh2]
    result = transcribe_file(model, write_wav(tmp_path / "switch.wav", sequence(parts)))

    assert result.segments[0].language == "en"
    assert result.segments[-1].language == "zh"
    assert set(result.languages) == {"en", "zh"}


@pytest.mark.slow
def test_long_recording_memory_stays_bounded(model: LoadedWhisper, tmp_path: Path) -> None:
    """40 minutes of mostly silence, speech at three known moments, 2-minute windows."""
    minutes = 40
    jfk = load_16k(speech("en/jfk.flac"))
    at = [100.0, 1300.0, 2300.0]
    audio = np.zeros(minutes * 60 * SAMPLE_RATE, np.float32)
    for t in at:
        i = int(t * SAMPLE_RATE)
        audio[i : i + jfk.shape[0]] = jfk
    path = tmp_path / "long.flac"
    wav = write_wav(tmp_path / "long.wav", audio)
    from tests.models.speech_fixtures import ffmpeg

    ffmpeg("-i", str(wav), "-c:a", "flac", str(path))
    wav.unlink()
    whole_mb = audio.nbytes / 2**20
    del audio

    tracemalloc.start()
    try:
        result = transcribe_file(model, path, TranscribeOptions(window_s=120.0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # The window (about 2.5 min, 9 MB) plus one VAD batch, not the 146 MB of the whole file.
    assert peak / 2**20 < 45, (peak / 2**20, whole_mb)
    assert result.windows >= minutes * 60 / 150
    starts = [s.start for s in result.segments if "fellow" in s.text.lower()]
    assert len(starts) == 3, [s.text for s in result.segments]
    for found, expected in zip(starts, at, strict=True):
        assert expected <= found <= expected + 0.7
