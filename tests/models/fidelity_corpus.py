"""The transcription fidelity corpus: the shared real speech clips and variants made from them.

Every file is generated from ../shared/media/speech with ffmpeg or numpy, fresh for each
run (nothing is downloaded or copied into the repository). The variants are what real
footage brings and what hid a lost sentence before: files of 35 s to 3 minutes joined
with short and long pauses (so that speech falls across every 30-second window edge),
8 kHz telephone band, low gain, pink noise, a 16 -> 8 -> 16 kHz round trip, MP3 at
32 kbit/s, stereo with speech on one channel, stereo with a different speaker on each
channel. Used by tests/models/test_transcribe_fidelity.py and benchmarks/transcribe.
"""

from __future__ import annotations

import os
import re
import subprocess
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.speech.audio import SAMPLE_RATE, decode_audio, list_audio_streams

REPO = Path(__file__).resolve().parents[2]
SPEECH = REPO.parent / "shared" / "media" / "speech"

# Reference transcripts, from ../shared/media/README.md.
EN_CLIPS: dict[str, str] = {
    "en/jfk.flac": (
        "And so my fellow Americans, ask not what your country can do for you, "
        "ask what you can do for your country."
    ),
    "en/librispeech-1995-1837-0001.wav": (
        "IT WAS THE FIRST GREAT SORROW OF HIS LIFE IT WAS NOT SO MUCH THE LOSS OF THE "
        "COTTON ITSELF BUT THE FANTASY THE HOPES THE DREAMS BUILT AROUND IT"
    ),
    "en/stereo_diarization.wav#0": (
        "He began a confused complaint against the wizard, who had vanished behind the "
        "curtain on the left."
    ),
    "en/stereo_diarization.wav#1": "The horizon seems extremely distant.",
}
ZH_CLIPS: dict[str, str] = {
    "zh/aishell-BAC009S0724W0121.wav": "广州市房地产中介协会分析",
    "zh/BAC009S0764W0121.wav": "甚至出现交易几乎停滞的情况",
    "zh-tts/phone.wav": "请记一下，我的手机号是一三八零零一三八零零零，有事打给我。",
    "zh-tts/id_card.wav": "我的身份证号码是一一零一零五一九八八零八一五二三一四。",
    "zh-tts/bank_card.wav": ("退款打到我的银行卡，卡号是六二二二零二一二三四五六七八九零一二八。"),
    "zh-tts/plate.wav": "那辆车的车牌号是京A一二三四五，停在门口。",
    "zh-tts/seizure_full.wav": (
        "我们是市场监督管理局的执法人员，这是我们的执法证件。现在依法对你的货物实施查封，"
        "全程录音录像。你有权进行陈述和申辩。"
    ),
    "zh-tts/seizure_no_rights.wav": (
        "我们是市场监督管理局的执法人员，这是我们的执法证件。现在依法对你的货物实施查封，"
        "全程录音录像。"
    ),
    "zh-tts/uncivil.wav": "你给我闭嘴，站到那边去，别废话。",
}
# Joined files use every distinct sentence once per round (seizure_no_rights repeats
# seizure_full, so it only appears on its own).
EN_JOIN = ["en/jfk.flac", "en/librispeech-1995-1837-0001.wav",
           "en/stereo_diarization.wav#0", "en/stereo_diarization.wav#1"]  # fmt: skip
ZH_JOIN = ["zh-tts/phone.wav", "zh/aishell-BAC009S0724W0121.wav", "zh-tts/id_card.wav",
           "zh-tts/seizure_full.wav", "zh/BAC009S0764W0121.wav", "zh-tts/bank_card.wav",
           "zh-tts/plate.wav", "zh-tts/uncivil.wav"]  # fmt: skip

# Every variant build_corpus makes, by name (tests are parametrised before anything is made).
CORPUS_NAMES = [
    *(f"clip:{k}" for k in (*EN_CLIPS, *ZH_CLIPS) if "#" not in k),
    "clip:en/stereo_diarization.wav",
    "en-join-0.3s",
    "zh-join-0.3s",
    "en-join-3s-long",
    "zh-join-3s-long",
    *(f"{lang}-join-0.3s-{kind}" for lang in ("en", "zh")
      for kind in ("telephone-8k", "minus15dB", "pink-snr10", "mp3-32k")),
    "en-join-0.3s-8k-roundtrip",
    "en-stereo-left-only",
    "en-stereo-two-speakers",
]  # fmt: skip

_QUIET = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


class MediaMissing(RuntimeError):
    """../shared/media/speech is not there."""


def require_speech() -> Path:
    if not SPEECH.is_dir():
        raise MediaMissing(f"shared speech media not present: {SPEECH}")
    return SPEECH


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


@dataclass(frozen=True)
class Variant:
    """One test file: where it is, its language, and the reference of each channel.

    `references` maps a channel index (None: the file as one voice) to the words said on
    it; a stereo file with a different speaker on each channel is scored per channel.
    """

    name: str
    path: Path
    language: str  # "en" | "zh": how it is scored (WER or CER)
    references: dict[int | None, str] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return float(subprocess.check_output(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
             "default=nw=1:nk=1", str(self.path)], text=True, timeout=60).strip())  # fmt: skip


def ffmpeg(*args: str) -> None:
    subprocess.run([*_QUIET, *args], check=True, timeout=300)


def _clip(key: str) -> np.ndarray:
    """One reference clip as 16 kHz mono float32 (a channel of a stereo file with #N)."""
    name, _, chan = key.partition("#")
    path = require_speech() / name
    if not chan:
        return decode_audio(path, list_audio_streams(path)[0].index)
    return _read_f32(["-i", str(path), "-af", f"pan=mono|c0=c{chan}"])


def _read_f32(args: Sequence[str]) -> np.ndarray:
    raw = subprocess.run(
        [*_QUIET, *args, "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"],
        check=True, capture_output=True, timeout=300,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def write_wav(path: Path, audio: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Mono or (n, channels) float audio as 16-bit PCM WAV."""
    import wave

    pcm = (np.clip(audio, -1.0, 32767 / 32768) * 32768.0).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1 if pcm.ndim == 1 else pcm.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def joined(keys: Sequence[str], pause_s: float, rounds: int = 1) -> np.ndarray:
    pause = np.zeros(int(pause_s * SAMPLE_RATE), np.float32)
    pieces: list[np.ndarray] = []
    for _ in range(rounds):
        for key in keys:
            if pieces:
                pieces.append(pause)
            pieces.append(_clip(key))
    return np.concatenate(pieces).astype(np.float32)


def _reference(keys: Sequence[str], table: dict[str, str], rounds: int = 1) -> str:
    sep = "" if table is ZH_CLIPS else " "
    return sep.join(table[k] for _ in range(rounds) for k in keys)


def pink_noise_at_snr(audio: np.ndarray, snr_db: float, seed: int = 7) -> np.ndarray:
    """Add pink noise (1/f power, shaped in the frequency domain) at `snr_db` below the
    speech power measured over the samples that are not silence."""
    rng = np.random.default_rng(seed)
    n = audio.shape[0]
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    spectrum /= np.sqrt(np.maximum(freqs, 20.0))
    noise = np.fft.irfft(spectrum, n).astype(np.float32)
    voiced = np.abs(audio) > 1e-3
    speech_power = float(np.mean(audio[voiced] ** 2)) if voiced.any() else 1e-6
    noise *= np.sqrt(speech_power / 10 ** (snr_db / 10) / float(np.mean(noise**2)))
    return (audio + noise).astype(np.float32)


def _filtered(src: Path, dst: Path, *args: str) -> Path:
    ffmpeg("-i", str(src), *args, str(dst))
    return dst


def build_corpus(folder: Path, *, long_minutes: float = 3.0) -> list[Variant]:
    """Generate every variant into `folder` (idempotent within one folder)."""
    require_speech()
    folder.mkdir(parents=True, exist_ok=True)
    out: list[Variant] = []

    # The shared clips as they are (one voice per file; the stereo pair is scored per channel).
    for key, ref in {**EN_CLIPS, **ZH_CLIPS}.items():
        if "#" in key:
            continue
        lang = "en" if key.startswith("en/") else "zh"
        out.append(Variant(f"clip:{key}", require_speech() / key, lang, {None: ref}))
    stereo = require_speech() / "en/stereo_diarization.wav"
    out.append(Variant("clip:en/stereo_diarization.wav", stereo, "en",
                       {0: EN_CLIPS["en/stereo_diarization.wav#0"],
                        1: EN_CLIPS["en/stereo_diarization.wav#1"]}))  # fmt: skip

    def add(name: str, lang: str, audio: np.ndarray, ref: str) -> Path:
        path = write_wav(folder / f"{name}.wav", audio)
        out.append(Variant(name, path, lang, {None: ref}))
        return path

    en_short = joined(EN_JOIN + EN_JOIN[:2], 0.3)  # ~51 s: speech across the 30-s edge
    en_ref = _reference(EN_JOIN + EN_JOIN[:2], EN_CLIPS)
    zh_short = joined(ZH_JOIN, 0.3)  # ~47 s
    zh_ref = _reference(ZH_JOIN, ZH_CLIPS)
    en_path = add("en-join-0.3s", "en", en_short, en_ref)
    zh_path = add("zh-join-0.3s", "zh", zh_short, zh_ref)

    # Long pauses, long files: about `long_minutes` of English, half that of Mandarin.
    en_round_s = (sum(_clip(k).shape[0] for k in EN_JOIN) / SAMPLE_RATE) + 3.0 * len(EN_JOIN)
    zh_round_s = (sum(_clip(k).shape[0] for k in ZH_JOIN) / SAMPLE_RATE) + 3.0 * len(ZH_JOIN)
    en_rounds = max(1, round(long_minutes * 60 / en_round_s))
    zh_rounds = max(1, round(long_minutes * 30 / zh_round_s))
    add("en-join-3s-long", "en", joined(EN_JOIN, 3.0, en_rounds),
        _reference(EN_JOIN, EN_CLIPS, en_rounds))  # fmt: skip
    add("zh-join-3s-long", "zh", joined(ZH_JOIN, 3.0, zh_rounds),
        _reference(ZH_JOIN, ZH_CLIPS, zh_rounds))  # fmt: skip

    for src, lang, ref in ((en_path, "en", en_ref), (zh_path, "zh", zh_ref)):
        stem = src.stem
        telephone = _filtered(src, folder / f"{stem}-telephone.wav",
                              "-af", "highpass=f=300,lowpass=f=3400", "-ar", "8000")  # fmt: skip
        out.append(Variant(f"{stem}-telephone-8k", telephone, lang, {None: ref}))
        quiet = _filtered(src, folder / f"{stem}-minus15dB.wav", "-af", "volume=-15dB")
        out.append(Variant(f"{stem}-minus15dB", quiet, lang, {None: ref}))
        audio = en_short if lang == "en" else zh_short
        add(f"{stem}-pink-snr10", lang, pink_noise_at_snr(audio, 10.0), ref)
        mp3 = _filtered(src, folder / f"{stem}-32k.mp3", "-c:a", "libmp3lame", "-b:a", "32k")
        out.append(Variant(f"{stem}-mp3-32k", mp3, lang, {None: ref}))

    down = _filtered(en_path, folder / "en-8k.wav", "-ar", "8000")
    back = _filtered(down, folder / "en-8k-16k.wav", "-ar", "16000")
    out.append(Variant("en-join-0.3s-8k-roundtrip", back, "en", {None: en_ref}))

    # Stereo: speech on the left only, and a different speaker on each channel.
    one_sided = np.stack([en_short, np.zeros_like(en_short)], axis=1)
    path = write_wav(folder / "en-stereo-left-only.wav", one_sided)
    out.append(Variant("en-stereo-left-only", path, "en", {0: en_ref}))
    right_keys = ["en/librispeech-1995-1837-0001.wav", "en/stereo_diarization.wav#1",
                  "en/jfk.flac"]  # fmt: skip
    right = np.concatenate([np.zeros(int(2.0 * SAMPLE_RATE), np.float32),
                            joined(right_keys, 4.0)])  # fmt: skip
    left = joined(EN_JOIN[:3], 0.3)
    n = max(left.shape[0], right.shape[0])
    pair = np.zeros((n, 2), np.float32)
    pair[: left.shape[0], 0] = left
    pair[: right.shape[0], 1] = right
    path = write_wav(folder / "en-stereo-two-speakers.wav", pair)
    out.append(Variant("en-stereo-two-speakers", path, "en",
                       {0: _reference(EN_JOIN[:3], EN_CLIPS),
                        1: _reference(right_keys, EN_CLIPS)}))  # fmt: skip
    return out


def channel_audio(path: Path, channel: int | None) -> np.ndarray:
    """16 kHz mono float32 of one channel (or the downmix), as a bare script would read it."""
    if channel is None:
        return decode_audio(path, list_audio_streams(path)[0].index)
    return _read_f32(["-i", str(path), "-af", f"pan=mono|c0=c{channel}"])


# --- scoring -----------------------------------------------------------------------------

_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)
# Whisper writes spoken digits as Arabic numerals, the references as Chinese numerals.
_ZH_DIGITS = str.maketrans("0123456789〇幺", "零一二三四五六七八九零一")


def normalise_en(text: str) -> list[str]:
    return _PUNCT.sub(" ", unicodedata.normalize("NFKC", text).lower()).split()


def normalise_zh(text: str) -> list[str]:
    from models.speech.trust import to_simplified

    text = to_simplified(unicodedata.normalize("NFKC", text)).translate(_ZH_DIGITS)
    return [ch for ch in _PUNCT.sub("", text).lower() if not ch.isspace()]


def units(text: str, language: str) -> list[str]:
    return normalise_en(text) if language == "en" else normalise_zh(text)


@dataclass(frozen=True)
class Score:
    errors: int
    reference_units: int
    hits: frozenset[int]  # reference positions the hypothesis got right

    @property
    def rate(self) -> float:
        return self.errors / max(1, self.reference_units)


def score(reference: str, hypothesis: str, language: str) -> Score:
    """Word (English) or character (Mandarin) error rate, and which reference units were hit."""
    import jiwer

    ref = units(reference, language)
    hyp = units(hypothesis, language)
    if not hyp:
        return Score(len(ref), len(ref), frozenset())
    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    hits: set[int] = set()
    for chunk in out.alignments[0]:
        if chunk.type == "equal":
            hits.update(range(chunk.ref_start_idx, chunk.ref_end_idx))
    errors = out.substitutions + out.deletions + out.insertions
    return Score(errors, len(ref), frozenset(hits))
