"""Where the speech is: Silero VAD probabilities, speech chunks, and safe places to cut.

The transcriber needs the VAD twice: to hand Whisper only the speech (as faster-whisper's
``vad_filter`` does) and, afterwards, to check each piece of text against what the VAD
heard and to pull word times out of silence. Computing the frame probabilities once and
deriving the chunks from them here avoids running the VAD model twice over every hour.
`speech_chunks` follows faster-whisper's ``get_speech_timestamps`` (itself adapted from
silero-vad, MIT) step for step, so the stage feeds Whisper exactly what a bare
``WhisperModel.transcribe(vad_filter=True)`` would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000
FRAME = 512  # samples per VAD probability (32 ms)
FRAME_S = FRAME / SAMPLE_RATE


@dataclass(frozen=True)
class VadSettings:
    threshold: float = 0.5
    neg_threshold: float | None = None
    min_speech_duration_ms: int = 0
    max_speech_duration_s: float = float("inf")
    min_silence_duration_ms: int = 2000
    speech_pad_ms: int = 400

    @property
    def off_threshold(self) -> float:
        if self.neg_threshold is not None:
            return self.neg_threshold
        return max(self.threshold - 0.15, 0.01)


_VAD_BATCH = 10000  # frames per ONNX run, as in faster-whisper: the LSTM state passes between runs
_CONTEXT = 64


def speech_probabilities(audio: np.ndarray) -> np.ndarray:
    """One speech probability per 512-sample frame (faster-whisper's bundled Silero model).

    Gives exactly what faster-whisper's ``SileroVADModel(np.pad(audio, ...))`` gives, but
    builds the model input one ONNX batch at a time instead of copying the whole window
    twice, so memory does not scale with the window length.
    """
    from faster_whisper.vad import get_vad_model

    session = get_vad_model().session
    n_frames = audio.shape[0] // FRAME + 1  # faster-whisper always pads, by up to a frame
    probs = np.empty(n_frames, dtype=np.float32)
    h = np.zeros((1, 1, 128), dtype=np.float32)
    c = np.zeros((1, 1, 128), dtype=np.float32)
    previous_tail = np.zeros(_CONTEXT, dtype=np.float32)
    for first in range(0, n_frames, _VAD_BATCH):
        last = min(n_frames, first + _VAD_BATCH)
        frames = np.zeros((last - first, FRAME), dtype=np.float32)
        piece = audio[first * FRAME : last * FRAME]
        frames.reshape(-1)[: piece.shape[0]] = piece
        if last == n_frames:
            frames[-1, -_CONTEXT:] = 0.0  # faster-whisper zeroes the final frame's tail too
        batch = np.empty((last - first, _CONTEXT + FRAME), dtype=np.float32)
        batch[:, _CONTEXT:] = frames
        batch[0, :_CONTEXT] = previous_tail
        batch[1:, :_CONTEXT] = frames[:-1, -_CONTEXT:]
        previous_tail = frames[-1, -_CONTEXT:].copy()
        output, h, c = session.run(None, {"input": batch, "h": h, "c": c})
        probs[first:last] = np.asarray(output, dtype=np.float32).reshape(-1)
    return probs


def speech_chunks(probs: np.ndarray, n_samples: int, vad: VadSettings) -> list[dict[str, int]]:
    """Padded speech chunks ({"start", "end"} in samples) from frame probabilities."""
    threshold = vad.threshold
    neg_threshold = vad.off_threshold
    pad = SAMPLE_RATE * vad.speech_pad_ms / 1000
    min_speech = SAMPLE_RATE * vad.min_speech_duration_ms / 1000
    max_speech = SAMPLE_RATE * vad.max_speech_duration_s - FRAME - 2 * pad
    min_silence = SAMPLE_RATE * vad.min_silence_duration_ms / 1000
    min_silence_at_max = SAMPLE_RATE * 98 / 1000

    triggered = False
    speeches: list[dict[str, int]] = []
    current: dict[str, int] = {}
    temp_end = prev_end = next_start = 0
    for i, prob in enumerate(probs.tolist()):
        pos = FRAME * i
        if prob >= threshold and temp_end:
            temp_end = 0
            if next_start < prev_end:
                next_start = pos
        if prob >= threshold and not triggered:
            triggered = True
            current["start"] = pos
            continue
        if triggered and pos - current["start"] > max_speech:
            if prev_end:
                current["end"] = prev_end
                speeches.append(current)
                current = {}
                if next_start < prev_end:
                    triggered = False
                else:
                    current["start"] = next_start
                prev_end = next_start = temp_end = 0
            else:
                current["end"] = pos
                speeches.append(current)
                current = {}
                prev_end = next_start = temp_end = 0
                triggered = False
                continue
        if prob < neg_threshold and triggered:
            if not temp_end:
                temp_end = pos
            if pos - temp_end > min_silence_at_max:
                prev_end = temp_end
            if pos - temp_end < min_silence:
                continue
            current["end"] = temp_end
            if current["end"] - current["start"] > min_speech:
                speeches.append(current)
            current = {}
            prev_end = next_start = temp_end = 0
            triggered = False
            continue
    if current and n_samples - current["start"] > min_speech:
        current["end"] = n_samples
        speeches.append(current)

    for i, speech in enumerate(speeches):
        if i == 0:
            speech["start"] = int(max(0, speech["start"] - pad))
        if i != len(speeches) - 1:
            silence = speeches[i + 1]["start"] - speech["end"]
            if silence < 2 * pad:
                speech["end"] += int(silence // 2)
                speeches[i + 1]["start"] = int(max(0, speeches[i + 1]["start"] - silence // 2))
            else:
                speech["end"] = int(min(n_samples, speech["end"] + pad))
                speeches[i + 1]["start"] = int(max(0, speeches[i + 1]["start"] - pad))
        else:
            speech["end"] = int(min(n_samples, speech["end"] + pad))
    return speeches


def pack_chunks(chunks: list[dict[str, int]], max_s: float = 30.0) -> list[tuple[int, int]]:
    """Group consecutive chunks into windows of at most `max_s` of speech, as faster-whisper's
    batched pipeline does (``collect_chunks``), and give each window's (start, end) in the
    concatenated speech, i.e. in samples after the silences are cut out."""
    limit = max_s * SAMPLE_RATE
    windows: list[tuple[int, int]] = []
    start = filled = 0
    for chunk in chunks:
        size = chunk["end"] - chunk["start"]
        if filled + size > limit and filled:
            windows.append((start, start + filled))
            start, filled = start + filled, 0
        filled += size
    if filled:
        windows.append((start, start + filled))
    return windows


def exact_seconds(sample: int) -> float:
    """Seconds that faster-whisper turns back into exactly `sample` (int(s * 16000))."""
    value = sample / SAMPLE_RATE
    while int(value * SAMPLE_RATE) < sample:
        value = float(np.nextafter(value, np.inf))
    return value


def quiet_cut(probs: np.ndarray, lo: int, hi: int, off_threshold: float) -> int:
    """The frame in [lo, hi) at the middle of the longest quiet run: where to end a window.

    Cutting inside a pause keeps every word whole on one side of the cut. With no pause at
    all in the range, the least speech-like frame is taken.
    """
    lo = max(0, min(lo, probs.shape[0] - 1))
    hi = max(lo + 1, min(hi, probs.shape[0]))
    quiet = probs[lo:hi] < off_threshold
    best_len = best_mid = 0
    run_start = -1
    for i, q in enumerate(np.append(quiet, False).tolist()):
        if q and run_start < 0:
            run_start = i
        elif not q and run_start >= 0:
            if i - run_start > best_len:
                best_len, best_mid = i - run_start, (run_start + i) // 2
            run_start = -1
    if best_len == 0:
        return lo + int(np.argmin(probs[lo:hi]))
    return lo + best_mid


def speech_ratio(probs: np.ndarray, start_s: float, end_s: float, threshold: float) -> float:
    """Share of the VAD frames in [start_s, end_s) that the VAD calls speech."""
    a = max(0, int(start_s / FRAME_S))
    b = min(probs.shape[0], max(a + 1, int(np.ceil(end_s / FRAME_S))))
    if b <= a:
        return 0.0
    return float(np.mean(probs[a:b] >= threshold))


def speech_bounds(
    probs: np.ndarray, start_s: float, end_s: float, threshold: float
) -> tuple[float, float] | None:
    """First and last instant of VAD speech inside [start_s, end_s), or None."""
    a = max(0, int(start_s / FRAME_S))
    b = min(probs.shape[0], max(a + 1, int(np.ceil(end_s / FRAME_S))))
    hits = np.flatnonzero(probs[a:b] >= threshold)
    if hits.size == 0:
        return None
    return (a + int(hits[0])) * FRAME_S, (a + int(hits[-1]) + 1) * FRAME_S


def uncovered_speech(
    probs: np.ndarray,
    threshold: float,
    covered: list[tuple[float, float]],
    *,
    margin_s: float = 0.25,
    join_s: float = 0.5,
    min_s: float = 1.0,
) -> list[tuple[float, float]]:
    """Stretches where the VAD hears speech but no transcribed word lies, in seconds.

    `covered` holds the (start, end) of every word. Speech frames within `margin_s` of a
    word count as covered (word edges are loose); uncovered runs closer than `join_s` are
    joined; a stretch is reported when it holds at least `min_s` of uncovered speech.
    """
    speech = probs >= threshold
    mask = np.zeros(probs.shape[0], dtype=bool)
    for start, end in covered:
        a = max(0, int((start - margin_s) / FRAME_S))
        b = min(probs.shape[0], int(np.ceil((end + margin_s) / FRAME_S)))
        mask[a:b] = True
    lost = np.flatnonzero(speech & ~mask)
    if lost.size == 0:
        return []
    join = max(1, int(join_s / FRAME_S))
    runs: list[list[int]] = [[int(lost[0]), int(lost[0]), 1]]
    for frame in lost[1:].tolist():
        if frame - runs[-1][1] <= join:
            runs[-1][1] = frame
            runs[-1][2] += 1
        else:
            runs.append([frame, frame, 1])
    need = min_s / FRAME_S
    return [(round(a * FRAME_S, 3), round((b + 1) * FRAME_S, 3))
            for a, b, count in runs if count >= need]  # fmt: skip
