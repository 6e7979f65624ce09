"""Transcription: audio chunks in, a Transcript of segments and timed words out.

How it stays trustworthy and bounded:
- Audio arrives as a stream of chunks and is transcribed in windows of about ten minutes,
  each ended in a pause, so memory does not grow with the length of the recording and no
  word is cut in two.
- Whisper only hears what the VAD calls speech (silence and street noise produce nothing);
  the VAD's frame probabilities are kept to check every segment against what it heard and
  to pull word times out of the silence Whisper likes to stretch them into.
- Each 30-second decoding window of speech gets its own language (code-switching), read
  from the detection faster-whisper already makes; a window leaves the recording's
  language only when the detector is sure (see `models.speech.whisper.LanguageTap`). Speech of
  two languages inside one 30-second window is decoded in one of them.
- Suspicious segments are kept but flagged, with reasons (see `models.speech.trust`).
- Chinese comes out in simplified characters; digits stay digits (nothing rewrites them).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

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
    uncovered_speech,
)
from models.speech.trust import DoubtRules, flag_repeated_segments, judge_segment, to_simplified
from models.speech.whisper import LoadedWhisper

# Languages written in Han characters that are shown in simplified form.
_SIMPLIFY = frozenset({"zh", "yue"})
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_SEED = 1
# A word start moved by less than this is left alone: the VAD's own granularity.
_CLAMP_MIN_S = 0.2
_CLAMP_MARGIN_S = 0.05


@dataclass
class Word:
    start: float
    end: float
    text: str
    probability: float


@dataclass
class Segment:
    start: float
    end: float
    text: str
    language: str | None
    language_probability: float | None
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    confidence: float  # mean word probability (exp(avg_logprob) without words)
    speech_ratio: float  # share of the segment's time the VAD calls speech
    words: list[Word] = field(default_factory=list)
    doubtful: bool = False
    doubt_reasons: list[str] = field(default_factory=list)
    channel: int | None = None  # the channel it was heard on; None: the stream as one voice
    second_pass: bool = False  # recovered by decoding speech the first pass left wordless

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        words = [Word(**w) for w in data.get("words", [])]
        return cls(**{**data, "words": words})


@dataclass
class Transcript:
    """The transcript of one audio stream of one recording, as stored and exported."""

    recording_id: str
    stream_index: int | None  # container stream index; None when the file has no audio
    stream_label: str
    status: str  # done | no_speech | no_audio
    language: str | None = None
    language_probability: float | None = None
    languages: dict[str, float] = field(default_factory=dict)  # seconds per language
    duration_s: float = 0.0
    speech_s: float = 0.0
    audio_sha256: str | None = None  # of the 16 kHz mono float32 samples transcribed
    model: str = ""
    model_sha256: str = ""
    device: str = ""
    compute_type: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    params_hash: str = ""
    decode: dict[str, Any] = field(default_factory=dict)  # corrupt packets, silence filled
    segments: list[Segment] = field(default_factory=list)
    # Voices transcribed on their own: [{"channel", "label", "speech_s", "language"}]; empty
    # when the stream was heard as one voice (mono, or channels that repeat each other).
    channels: list[dict[str, Any]] = field(default_factory=list)
    # Speech the VAD heard where no word came out, even after a second pass: listen there.
    untranscribed: list[UntranscribedSpan] = field(default_factory=list)

    @property
    def text(self) -> str:
        joiner = "" if self.language in ("zh", "yue", "ja") else " "
        return joiner.join(s.text for s in self.segments)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        segments = [Segment.from_dict(s) for s in data.get("segments", [])]
        spans = [UntranscribedSpan(**u) for u in data.get("untranscribed", [])]
        return cls(**{**data, "segments": segments, "untranscribed": spans})


@dataclass
class UntranscribedSpan:
    start: float
    end: float
    channel: int | None = None


@dataclass(frozen=True)
class TranscribeOptions:
    """Everything that changes the output; hashed into the stage's parameter digest."""

    language: str | None = None  # None: detect per file and per 30-s window
    multilingual: bool = True  # detect the language of every window (code-switching)
    # A window leaves the recording's language only when the detector is at least this sure.
    switch_probability: float = 0.8
    beam_size: int = 5
    batch_size: int = 0  # 0: sequential decoding; N > 1: batched pipeline, N windows at once
    vad: bool = True
    vad_threshold: float = 0.5
    word_timestamps: bool = True
    # Off: fed back as the prompt, a sentence gets hallucinated again into the next pause
    # (measured: a 15-word repeat at 83.8 s of the fidelity corpus' en-join-3s-long, and
    # pooled English WER 2.6 % on, 1.3 % off, bare faster-whisper 1.5 %).
    condition_on_previous_text: bool = False
    window_s: float = 600.0  # audio held and transcribed at once
    simplify_chinese: bool = True

    def vad_settings(self) -> VadSettings:
        if self.batch_size > 1:
            # faster-whisper's batched defaults: short silences split, 30-s cap per chunk.
            return VadSettings(self.vad_threshold, max_speech_duration_s=30.0,
                               min_silence_duration_ms=160)  # fmt: skip
        return VadSettings(self.vad_threshold)

    def whisper_kwargs(self) -> dict[str, Any]:
        """Arguments for faster-whisper's transcribe(), shared with the benchmark script."""
        forced = self.language is not None
        return {
            "language": self.language,
            "multilingual": self.multilingual and not forced,
            "beam_size": self.beam_size,
            "word_timestamps": self.word_timestamps,
            "condition_on_previous_text": self.condition_on_previous_text,
        }


@dataclass
class StreamResult:
    """What transcribing one audio stream gave."""

    segments: list[Segment]
    language: str | None
    language_probability: float | None
    languages: dict[str, float]  # seconds of transcribed speech per language
    speech_s: float  # seconds the VAD called speech
    duration_s: float  # seconds of audio read
    windows: int = 0  # how many windows the audio was transcribed in
    untranscribed: list[UntranscribedSpan] = field(default_factory=list)
    second_pass_s: float = 0.0  # seconds of wordless speech decoded a second time

    @property
    def status(self) -> str:
        return "done" if self.segments else "no_speech"


ProgressFn = Callable[[float], None]  # receives seconds of audio done


# --- windows -------------------------------------------------------------------------------


@dataclass
class _Window:
    offset_s: float
    audio: np.ndarray
    probs: np.ndarray  # VAD probability per 512-sample frame of `audio`


def _windows(
    chunks: Iterable[np.ndarray], window_s: float, off_threshold: float, vad: bool
) -> Iterator[_Window]:
    """Regroup decoded chunks into windows of about `window_s`, each ending in a pause."""
    lookahead = min(30.0, window_s / 4)
    need = int((window_s + lookahead) * SAMPLE_RATE)
    buffer: list[np.ndarray] = []
    buffered = 0
    offset = 0

    def probabilities(audio: np.ndarray) -> np.ndarray:
        if vad:
            return speech_probabilities(audio)
        return np.ones(audio.shape[0] // FRAME + 1, dtype=np.float32)

    for chunk in chunks:
        buffer.append(chunk)
        buffered += chunk.shape[0]
        while buffered >= need:
            audio = np.concatenate(buffer)
            buffer.clear()  # hold the window once, not twice
            probs = probabilities(audio)
            lo = int((window_s - min(60.0, window_s / 2)) * SAMPLE_RATE) // FRAME
            hi = int((window_s + lookahead) * SAMPLE_RATE) // FRAME
            cut = quiet_cut(probs, lo, hi, off_threshold) * FRAME
            cut = max(FRAME, cut)
            yield _Window(offset / SAMPLE_RATE, audio[:cut], probs[: cut // FRAME])
            rest = audio[cut:].copy()  # a view would keep the whole window alive
            del audio, probs
            buffer, buffered = [rest], rest.shape[0]
            offset += cut
    if buffered:
        audio = np.concatenate(buffer)
        buffer.clear()
        yield _Window(offset / SAMPLE_RATE, audio, probabilities(audio))


# --- decoding one window -------------------------------------------------------------------


@dataclass
class _Raw:
    """A faster-whisper segment placed in the recording's timeline."""

    start: float
    end: float
    text: str
    words: list[Word]
    avg_logprob: float
    no_speech_prob: float
    language: str | None
    language_probability: float | None


def _convert(seg: Any, offset: float, language: tuple[str | None, float | None]) -> _Raw:
    words = [
        Word(
            round(float(w.start) + offset, 3),
            round(float(w.end) + offset, 3),
            w.word,
            round(float(w.probability), 4),
        )
        for w in (seg.words or [])
    ]
    return _Raw(
        start=round(float(seg.start) + offset, 3),
        end=round(float(seg.end) + offset, 3),
        text=seg.text,
        words=words,
        avg_logprob=float(seg.avg_logprob),
        no_speech_prob=float(seg.no_speech_prob),
        language=language[0],
        language_probability=language[1],
    )


def _sequential(
    loaded: LoadedWhisper, window: _Window, chunks: list[dict[str, int]], opts: TranscribeOptions
) -> Iterator[_Raw]:
    import ctranslate2
    from faster_whisper.transcribe import restore_speech_timestamps

    speech = np.concatenate([window.audio[c["start"] : c["end"]] for c in chunks])
    loaded.tap.reset()
    # Temperature fallback samples: a fixed seed makes a rerun give the same transcript.
    ctranslate2.set_random_seed(_SEED)
    segments, info = loaded.model.transcribe(speech, vad_filter=False, **opts.whisper_kwargs())
    file_language = (info.language, float(info.language_probability))
    per_window = opts.whisper_kwargs()["multilingual"] and loaded.multilingual
    # Forget the whole-window detection made inside transcribe(); anchor on its result.
    loaded.tap.reset(info.language, opts.switch_probability)
    for seg in restore_speech_timestamps(segments, chunks, SAMPLE_RATE):
        detections = loaded.tap.detections
        language = detections[-1] if per_window and detections else file_language
        yield _convert(seg, window.offset_s, language)


def _batched(
    loaded: LoadedWhisper, window: _Window, chunks: list[dict[str, int]], opts: TranscribeOptions
) -> Iterator[_Raw]:
    """faster-whisper's batched pipeline, fed the speech we already found.

    The pipeline would run the VAD again; instead it gets the concatenated speech with the
    30-second windows it would have made itself as clip boundaries, and timestamps are
    mapped back to the recording as it would map them, so the result is the same.
    """
    from faster_whisper import BatchedInferencePipeline
    from faster_whisper.transcribe import restore_speech_timestamps

    speech = np.concatenate([window.audio[c["start"] : c["end"]] for c in chunks])
    windows = pack_chunks(chunks)
    starts = [a / SAMPLE_RATE for a, _ in windows]
    clips = [{"start": exact_seconds(a), "end": exact_seconds(b)} for a, b in windows]
    pipeline = BatchedInferencePipeline(loaded.model)
    loaded.tap.reset()
    segments, info = pipeline.transcribe(
        speech,
        vad_filter=False,
        clip_timestamps=clips,
        batch_size=opts.batch_size,
        # With timestamp tokens, faster-whisper's batched decoder drops whatever follows the
        # last closed timestamp pair of each 30-s window (the sequential decoder would seek
        # back and decode it again; the batched one never seeks): a whole sentence lost at
        # the window's end. Without them each window is one segment, split by word times.
        without_timestamps=True,
        **opts.whisper_kwargs(),
    )
    file_language = (info.language, float(info.language_probability))
    per_window = opts.whisper_kwargs()["multilingual"] and loaded.multilingual
    loaded.tap.reset(info.language, opts.switch_probability)
    for seg in restore_speech_timestamps(segments, chunks, SAMPLE_RATE):
        # Batches detect the language of every window in order; a segment's window is the
        # one whose start its `seek` (in centiseconds of concatenated speech) names.
        index = max(0, bisect.bisect_right(starts, seg.seek / 100 + 0.015) - 1)
        detections = loaded.tap.detections
        language = detections[index] if per_window and index < len(detections) else file_language
        yield from _split_sentences(_convert(seg, window.offset_s, language))


# Where a window-long segment is cut into readable ones: after a sentence end, or in a pause.
_SENTENCE_END = re.compile(r"[.?!。？！…]['\"”’）)]*\s*$")
_SPLIT_PAUSE_S = 1.0


def _split_sentences(raw: _Raw) -> Iterator[_Raw]:
    """Cut a segment into sentences by its words' text and times; text is the words'."""
    if len(raw.words) < 2:
        yield raw
        return
    groups: list[list[Word]] = [[]]
    for i, word in enumerate(raw.words):
        groups[-1].append(word)
        following = raw.words[i + 1] if i + 1 < len(raw.words) else None
        if following is None:
            break
        if _SENTENCE_END.search(word.text) or following.start - word.end >= _SPLIT_PAUSE_S:
            groups.append([])
    if len(groups) == 1:
        yield raw
        return
    for words in groups:
        yield _Raw(
            start=words[0].start,
            end=words[-1].end,
            text="".join(w.text for w in words),
            words=words,
            avg_logprob=raw.avg_logprob,
            no_speech_prob=raw.no_speech_prob,
            language=raw.language,
            language_probability=raw.language_probability,
        )


# --- after decoding ------------------------------------------------------------------------


def _clamp_words(words: list[Word], probs: np.ndarray, offset: float, threshold: float) -> None:
    """Pull word edges that Whisper stretched into silence back to where the VAD hears speech.

    Whisper's alignment often starts the first word after a pause well inside the pause.
    """
    for word in words:
        bounds = speech_bounds(probs, word.start - offset, word.end - offset, threshold)
        if bounds is None:
            continue
        first, last = bounds[0] + offset, bounds[1] + offset
        if first - word.start > _CLAMP_MIN_S:
            word.start = round(max(word.start, first - _CLAMP_MARGIN_S), 3)
        if word.end - last > _CLAMP_MIN_S:
            word.end = round(min(word.end, last + _CLAMP_MARGIN_S), 3)


def _is_chinese(language: str | None, text: str) -> bool:
    """Chinese by label, or Han characters without kana under some other label."""
    if language in _SIMPLIFY:
        return True
    return language != "ja" and bool(_HAN.search(text)) and not _KANA.search(text)


def _finish(
    raw: _Raw, window: _Window, opts: TranscribeOptions, rules: DoubtRules
) -> Segment | None:
    words = [w for w in raw.words if w.text.strip()]
    text = raw.text
    if opts.simplify_chinese and _is_chinese(raw.language, text):
        # The whole text at once: OpenCC converts some words differently than characters.
        text = to_simplified(text)
        for word in words:
            word.text = to_simplified(word.text)
    text = text.strip()
    if not text:
        return None
    start, end = raw.start, raw.end
    if words:
        if opts.vad:
            _clamp_words(words, window.probs, window.offset_s, opts.vad_threshold)
        start, end = words[0].start, words[-1].end
    ratio = speech_ratio(window.probs, start - window.offset_s, end - window.offset_s,
                         opts.vad_threshold) if opts.vad else 1.0  # fmt: skip
    confidence = (
        float(np.mean([w.probability for w in words])) if words else float(np.exp(raw.avg_logprob))
    )
    segment = Segment(
        start=start,
        end=max(end, start),
        text=text,
        language=raw.language,
        language_probability=(
            round(raw.language_probability, 4) if raw.language_probability is not None else None
        ),
        avg_logprob=round(raw.avg_logprob, 4),
        no_speech_prob=round(raw.no_speech_prob, 4),
        compression_ratio=0.0,
        confidence=round(confidence, 4),
        speech_ratio=round(ratio, 3),
        words=words,
    )
    judge_segment(segment, rules)
    return segment


_SECOND_PASS_MARGIN_S = 0.3


_NEAR_LANGUAGE_S = 20.0  # how far a neighbouring segment's language is trusted


def _nearest_language(found: list[Segment], start: float, end: float) -> str | None:
    """The language of the segment closest to [start, end] (within 20 s), else None."""
    best: tuple[float, str] | None = None
    for seg in found:
        if not seg.language:
            continue
        gap = max(0.0, seg.start - end, start - seg.end)
        if gap <= _NEAR_LANGUAGE_S and (best is None or gap < best[0]):
            best = (gap, seg.language)
    return best[1] if best else None


def _second_pass(
    loaded: LoadedWhisper,
    window: _Window,
    found: list[Segment],
    opts: TranscribeOptions,
    rules: DoubtRules,
) -> tuple[list[Segment], list[UntranscribedSpan], float]:
    """Decode again, on its own, each stretch of VAD speech that no word covers.

    A decoder can skip speech (a window's last sentence, a first word after a pause); a
    stretch decoded alone, with its own language detection and temperature fallback,
    usually comes back. What still gives no words is reported as untranscribed, so a
    reviewer knows to listen there. Returns (recovered segments, still untranscribed spans,
    seconds decoded again).
    """
    offset = window.offset_s
    covered = [(w.start - offset, w.end - offset) for seg in found for w in seg.words]
    covered += [(seg.start - offset, seg.end - offset) for seg in found if not seg.words]
    gaps = uncovered_speech(window.probs, opts.vad_threshold, covered)
    recovered: list[Segment] = []
    lost: list[UntranscribedSpan] = []
    tried = 0.0
    size = window.audio.shape[0]
    for start, end in gaps:
        # A few seconds alone are too little to detect the language from: take the
        # language spoken nearest in time (a window can hold English, then Mandarin; its
        # majority would force English onto the Mandarin stretch, which then comes back
        # as an invented English sentence).
        again = opts
        if opts.language is None:
            near = _nearest_language(found, offset + start, offset + end)
            if near is not None:
                again = replace(opts, language=near)
        a = max(0, int((start - _SECOND_PASS_MARGIN_S) * SAMPLE_RATE))
        b = min(size, int((end + _SECOND_PASS_MARGIN_S) * SAMPLE_RATE))
        tried += (b - a) / SAMPLE_RATE
        new: list[Segment] = []
        for raw in _sequential(loaded, window, [{"start": a, "end": b}], again):
            # Words the first pass already has (at the stretch's margins) are not repeated.
            raw.words = [w for w in raw.words if not _inside((w.start + w.end) / 2 - offset,
                                                             covered)]  # fmt: skip
            if (
                not raw.words
                and raw.text.strip()
                and covered
                and _inside((raw.start + raw.end) / 2 - offset, covered)
            ):
                continue
            if raw.words:
                raw.text = "".join(w.text for w in raw.words)
            segment = _finish(raw, window, opts, rules)
            if segment is not None:
                segment.second_pass = True
                new.append(segment)
        recovered.extend(new)
        if not new:
            lost.append(UntranscribedSpan(round(offset + start, 3), round(offset + end, 3)))
    return recovered, lost, tried


def _inside(t: float, spans: list[tuple[float, float]]) -> bool:
    return any(a - 0.05 <= t <= b + 0.05 for a, b in spans)


def _summarise_languages(
    segments: list[Segment],
) -> tuple[str | None, float | None, dict[str, float]]:
    seconds: dict[str, float] = {}
    weighted: dict[str, float] = {}
    for seg in segments:
        if seg.language is None:
            continue
        span = max(seg.end - seg.start, 0.01)
        seconds[seg.language] = seconds.get(seg.language, 0.0) + span
        weighted[seg.language] = weighted.get(seg.language, 0.0) + span * (
            seg.language_probability or 0.0
        )
    if not seconds:
        return None, None, {}
    main = max(seconds, key=lambda lang: seconds[lang])
    probability = round(weighted[main] / seconds[main], 4)
    return main, probability, {k: round(v, 2) for k, v in sorted(seconds.items())}


def transcribe_chunks(
    loaded: LoadedWhisper,
    chunks: Iterable[np.ndarray],
    options: TranscribeOptions,
    *,
    rules: DoubtRules | None = None,
    progress: ProgressFn | None = None,
) -> StreamResult:
    """Transcribe a stream of 16 kHz mono float32 chunks."""
    rules = rules or DoubtRules()
    vad = options.vad_settings()
    if not options.vad:
        vad = VadSettings(threshold=0.0, neg_threshold=0.0, min_silence_duration_ms=10**9,
                          max_speech_duration_s=vad.max_speech_duration_s)  # fmt: skip
    decode = _batched if options.batch_size > 1 else _sequential
    segments: list[Segment] = []
    untranscribed: list[UntranscribedSpan] = []
    second_pass_s = 0.0
    speech_samples = 0
    total_s = 0.0
    windows = 0
    for window in _windows(chunks, options.window_s, vad.off_threshold, options.vad):
        found = speech_chunks(window.probs, window.audio.shape[0], vad)
        speech_samples += sum(c["end"] - c["start"] for c in found)
        window_end = window.offset_s + window.audio.shape[0] / SAMPLE_RATE
        if found:
            first = len(segments)
            for raw in decode(loaded, window, found, options):
                segment = _finish(raw, window, options, rules)
                if segment is not None:
                    segments.append(segment)
                if progress is not None:
                    progress(min(raw.end, window_end))
            if options.vad:
                recovered, lost, tried = _second_pass(loaded, window, segments[first:], options,
                                                      rules)  # fmt: skip
                segments[first:] = sorted(segments[first:] + recovered, key=lambda x: x.start)
                untranscribed.extend(lost)
                second_pass_s += tried
        total_s = window_end
        windows += 1
        if progress is not None:
            progress(window_end)
        del window, found  # let the next window replace this one, not join it
    flag_repeated_segments(segments, rules)
    language, probability, languages = _summarise_languages(segments)
    return StreamResult(
        segments=segments,
        language=language,
        language_probability=probability,
        languages=languages,
        speech_s=round(speech_samples / SAMPLE_RATE, 3),
        duration_s=round(total_s, 3),
        windows=windows,
        untranscribed=untranscribed,
        second_pass_s=round(second_pass_s, 3),
    )


def transcribe_array(
    loaded: LoadedWhisper, audio: np.ndarray, options: TranscribeOptions | None = None
) -> StreamResult:
    """Transcribe audio already in memory (short clips, tests)."""
    return transcribe_chunks(loaded, [audio], options or TranscribeOptions())


def segment_dicts(segments: list[Segment]) -> list[dict[str, Any]]:
    return [asdict(s) for s in segments]
