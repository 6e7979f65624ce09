"""Helpers for the transcription tests: real speech, generated silence/noise, test files.

Speech comes from ../shared/media/speech (see its README for the reference transcripts);
everything else is generated here with ffmpeg or numpy, fresh for each run.
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
import uuid
import wave
from collections.abc import Sequence
from pathlib import Path

import jiwer
import numpy as np
import pytest

from ingest.acquire import CaptureMeta, ingest
from models.speech.audio import SAMPLE_RATE, decode_audio, list_audio_streams
from models.speech.whisper import LoadedWhisper, load_whisper
from storage.services import Services
from tests.factories import add_recording
from tests.needs import unavailable

REPO = Path(__file__).resolve().parents[2]
SPEECH = REPO / ".." / "shared" / "media" / "speech"

# Reference transcripts from ../shared/media/README.md.
REFERENCES = {
    "en/jfk.flac": (
        "And so my fellow Americans, ask not what your country can do for you, "
        "ask what you can do for your country."
    ),
    "en/librispeech-1995-1837-0001.wav": (
        "IT WAS THE FIRST GREAT SORROW OF HIS LIFE IT WAS NOT SO MUCH THE LOSS OF THE "
        "COTTON ITSELF BUT THE FANTASY THE HOPES THE DREAMS BUILT AROUND IT"
    ),
    "left": "He began a confused complaint against the wizard, who had vanished behind the "
    "curtain on the left.",
    "right": "The horizon seems extremely distant.",
    "zh/aishell-BAC009S0724W0121.wav": "广州市房地产中介协会分析",
    "zh/BAC009S0764W0121.wav": "甚至出现交易几乎停滞的情况",
}

_QUIET = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


def speech(relative: str) -> Path:
    path = SPEECH / relative
    if not path.exists():
        unavailable(f"shared speech media not present: {path}")
    return path


def ffmpeg(*args: str) -> None:
    subprocess.run([*_QUIET, *args], check=True, timeout=120)


def model_cache(factory: pytest.TempPathFactory) -> Path:
    """One model cache per test session, so the model is assembled and loaded once."""
    return factory.getbasetemp() / "whisper-cache"


def base_model(factory: pytest.TempPathFactory) -> LoadedWhisper:
    return load_whisper("base", cache_dir=model_cache(factory), device="auto")


# --- audio -------------------------------------------------------------------------------


def load_16k(path: Path) -> np.ndarray:
    return decode_audio(path, list_audio_streams(path)[0].index)


def channel(path: Path, index: int) -> np.ndarray:
    """One channel of a stereo file at 16 kHz."""
    out = path.parent / f".{path.stem}-ch{index}-{uuid.uuid4().hex[:6]}.wav"
    ffmpeg("-i", str(path), "-af", f"pan=mono|c0=c{index}", "-ar", str(SAMPLE_RATE), str(out))
    try:
        return load_16k(out)
    finally:
        out.unlink()


def write_wav(path: Path, audio: np.ndarray) -> Path:
    pcm = np.clip(audio, -1.0, 32767 / 32768) * 32768.0
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.astype("<i2").tobytes())
    return path


def sequence(parts: Sequence[np.ndarray | float]) -> np.ndarray:
    """Audio arrays and silences (floats, in seconds) one after another."""
    pieces = [
        np.zeros(int(p * SAMPLE_RATE), np.float32) if isinstance(p, float | int) else p
        for p in parts
    ]
    return np.concatenate(pieces).astype(np.float32)


def make_silence(path: Path, seconds: float = 60.0) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"anullsrc=r=16000:cl=mono:d={seconds}", str(path))
    return path


def make_street_noise(path: Path, seconds: float = 60.0) -> Path:
    """Traffic rumble that swells and fades, wind hiss, two horn blasts and a siren sweep."""
    graph = (
        f"anoisesrc=color=brown:amplitude=0.6:d={seconds}:r=16000,"
        "volume='0.6+0.4*sin(2*PI*t/9)':eval=frame[rumble];"
        f"anoisesrc=color=pink:amplitude=0.15:d={seconds}:r=16000[hiss];"
        f"sine=f=420:d={seconds}:r=16000,volume='if(between(t,12,12.8)+between(t,40,41.5),0.5,0)'"
        ":eval=frame[horn];"
        f"aevalsrc='0.2*sin(2*PI*(700+300*sin(2*PI*t/2))*t)*between(t,25,33)':d={seconds}:s=16000"
        "[siren];"
        "[rumble][hiss][horn][siren]amix=inputs=4:normalize=0,alimiter=limit=0.9"
    )
    ffmpeg("-filter_complex", graph, "-ac", "1", str(path))
    return path


def make_two_stream_file(path: Path, stereo: Path) -> Path:
    """An interview-room style file: small video plus each stereo channel as its own stream."""
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=5",
        "-i", str(stereo),
        "-filter_complex", "[1:a]channelsplit=channel_layout=stereo[l][r]",
        "-map", "0:v", "-map", "[l]", "-map", "[r]",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "flac",
        "-metadata:s:a:0", "language=eng", "-metadata:s:a:0", "title=officer",
        "-metadata:s:a:1", "language=eng", "-metadata:s:a:1", "title=subject",
        "-shortest", str(path),
    )  # fmt: skip
    return path


def make_video_only(path: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=2", "-c:v", "libx264",
           "-preset", "ultrafast", str(path))  # fmt: skip
    return path


# --- scoring -----------------------------------------------------------------------------

_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)


def normalise_en(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def normalise_zh(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in _PUNCT.sub("", text) if not ch.isspace())


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    return float(
        jiwer.wer([normalise_en(r) for r in references], [normalise_en(h) for h in hypotheses])
    )


def cer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    return float(
        jiwer.cer([normalise_zh(r) for r in references], [normalise_zh(h) for h in hypotheses])
    )


# --- recordings --------------------------------------------------------------------------


def ingest_file(svc: Services, path: Path, case_no: str | None = None) -> str:
    receipt = ingest(svc, [path], CaptureMeta(case_no=case_no))
    entry = receipt.entries[0]
    assert entry.recording_id is not None, entry
    return entry.recording_id


def add_recording_row(svc: Services, case_no: str | None = None, name: str = "x.mp4") -> str:
    """A Recording row without media, for tests that only need something to point at."""
    return add_recording(svc, None, case_no=case_no, original_name=name)
