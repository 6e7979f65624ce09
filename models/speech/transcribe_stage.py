"""The transcribe pipeline stage: every audio stream of an original, transcribed and stored.

`run_transcribe` is the pure function the `gpu`-queue worker wraps. Per audio stream it
writes the transcript as JSON at a deterministic key (a derivative, hashed and ledgered),
then indexes all streams' segments in the database and ledgers one `transcribed` event in
the same transaction. A repeated job finds the rows (or the JSON objects) and does not
transcribe twice. A file without any audio stream gets a `no_audio` transcript: that is a
fact about the recording, not a failure.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from models.speech.audio import AudioError, AudioStream, DecodeStats, decode_audio_chunks
from models.speech.audio import list_audio_streams as _list_streams
from models.speech.channels import Voice, voices
from models.speech.transcribe import (
    StreamResult,
    TranscribeOptions,
    Transcript,
    UntranscribedSpan,
    transcribe_chunks,
)
from models.speech.transcripts import replace_transcripts, transcript_rows
from models.speech.whisper import LoadedWhisper, ModelUnavailable, whisper_for
from storage.db.schema import Recording
from storage.derived import store_derivative, verified_derivative
from storage.errors import PermanentError
from storage.objects.hashing import derived_key, params_digest
from storage.services import Services

STAGE = "transcribe"
QUEUE = "gpu"
# Sequential decoding by default, on both: it is what a bare `WhisperModel.transcribe`
# does, and on the fidelity corpus (tests/models/test_transcribe_fidelity.py) faster-whisper's
# batched pipeline loses Mandarin wholesale (CER 48 % against 11 % on 47 s of joined clips:
# it stops decoding a 30-s window early and never seeks back). Batched stays available
# (`batch_size=N`) for English-only GPU pools that want its speed.
DEFAULT_BATCH_SIZE = 0


@dataclass(frozen=True)
class TranscribeParams:
    model: str = ""  # "" = settings.whisper_model: base | small | tiny.en | a folder path
    language: str | None = None  # None = detect per file and per 30-s window
    multilingual: bool = True
    switch_probability: float = 0.8  # how sure a window must be to leave the file's language
    beam_size: int = 5
    batch_size: int = -1  # -1 = the default (sequential); 0 = sequential; N > 1 = batch N
    vad: bool = True
    vad_threshold: float = 0.5
    word_timestamps: bool = True
    condition_on_previous_text: bool = False  # see TranscribeOptions
    window_s: float = 600.0
    simplify_chinese: bool = True

    def __post_init__(self) -> None:
        if self.beam_size < 1 or self.window_s < 30 or self.batch_size < -1:
            raise ValueError("beam_size >= 1, window_s >= 30 and batch_size >= -1 required")
        if not (0.0 < self.vad_threshold < 1.0 and 0.0 <= self.switch_probability <= 1.0):
            raise ValueError("vad_threshold and switch_probability must be between 0 and 1")

    def resolved(self, loaded: LoadedWhisper) -> TranscribeParams:
        """Defaults made explicit, so the parameter digest names what really ran."""
        batch = self.batch_size
        if batch == -1:
            batch = DEFAULT_BATCH_SIZE
        return replace(self, model=loaded.name, batch_size=batch)

    def options(self) -> TranscribeOptions:
        fields = asdict(self)
        fields.pop("model")
        return TranscribeOptions(**fields)


def _load_recording(svc: Services, recording_id: str) -> Recording:
    with svc.db.session() as session:
        recording = session.get(Recording, recording_id)
    if recording is None:
        raise PermanentError(f"no recording {recording_id}")
    return recording


def _streams(path: Path, recording: Recording) -> list[AudioStream]:
    try:
        return _list_streams(path)
    except AudioError as exc:
        if recording.status != "stored" or recording.media_kind not in ("audio", "video"):
            return []  # not media we can read at all: nothing to hear
        raise PermanentError(str(exc)) from exc


class _Progress:
    """Maps seconds done in one stream to 0..1 over all streams, without flooding."""

    def __init__(self, report: Callable[[float], None], durations: list[float]) -> None:
        self.report = report
        self.durations = [max(d, 1e-6) for d in durations]
        self.total = sum(self.durations)
        self.before = 0.0
        self.last = -1.0

    def stream_done(self, index: int) -> None:
        self.before += self.durations[index]
        self.emit(self.before / self.total)

    def seconds(self, index: int) -> Callable[[float], None]:
        def on_seconds(done: float) -> None:
            share = min(done, self.durations[index]) / self.total
            self.emit(self.before + share)

        return on_seconds

    def emit(self, value: float) -> None:
        value = min(max(value, 0.0), 1.0)
        if value - self.last >= 0.005 or value >= 1.0 > self.last:
            self.last = value
            self.report(value)


def _model_fields(loaded: LoadedWhisper) -> dict[str, Any]:
    return dict(loaded.describe())


def _transcribe_stream(
    loaded: LoadedWhisper,
    path: Path,
    stream: AudioStream,
    recording_id: str,
    params: TranscribeParams,
    params_hash: str,
    on_seconds: Callable[[float], None],
) -> Transcript:
    try:
        heard = voices(path, stream.index, stream.channels)
        results: list[tuple[Voice, StreamResult, DecodeStats]] = []
        span = stream.duration_s or 1.0
        for i, voice in enumerate(heard):

            def report(done: float, i: int = i) -> None:
                on_seconds((i * span + min(done, span)) / len(heard))

            stats = DecodeStats()
            result = transcribe_chunks(
                loaded,
                decode_audio_chunks(path, stream.index, stats=stats, channel=voice.channel),
                params.options(),
                progress=report,
            )
            results.append((voice, result, stats))
    except AudioError as exc:
        raise PermanentError(str(exc)) from exc
    return _merge(stream, recording_id, params, params_hash, loaded, results)


def _merge(
    stream: AudioStream,
    recording_id: str,
    params: TranscribeParams,
    params_hash: str,
    loaded: LoadedWhisper,
    results: list[tuple[Voice, StreamResult, DecodeStats]],
) -> Transcript:
    """One transcript per stream: the voices' segments in time order, each with its channel."""
    segments = []
    untranscribed: list[UntranscribedSpan] = []
    languages: dict[str, float] = {}
    for voice, result, _ in results:
        for seg in result.segments:
            seg.channel = voice.channel
            segments.append(seg)
        for gap in result.untranscribed:
            untranscribed.append(UntranscribedSpan(gap.start, gap.end, voice.channel))
        for lang, seconds in result.languages.items():
            languages[lang] = round(languages.get(lang, 0.0) + seconds, 2)
    segments.sort(key=lambda seg: (seg.start, seg.channel if seg.channel is not None else -1))
    untranscribed.sort(key=lambda gap: gap.start)
    main = max(results, key=lambda r: sum(r[1].languages.values()))[1]
    all_stats = [stats for _, _, stats in results]
    samples = max(stats.samples for stats in all_stats)
    if len(results) == 1:
        audio_sha256 = all_stats[0].sha256 or None
    else:  # the digest of the channels' digests, in channel order
        joined = ",".join(stats.sha256 for stats in all_stats)
        audio_sha256 = hashlib.sha256(joined.encode()).hexdigest()
    channels = [
        {
            "channel": voice.channel,
            "label": voice.label,
            "status": result.status,
            "language": result.language,
            "speech_s": result.speech_s,
            "audio_sha256": stats.sha256,
        }
        for voice, result, stats in results
        if voice.channel is not None
    ]
    status = ("done" if segments else "no_speech") if samples else "no_audio"
    return Transcript(
        recording_id=recording_id,
        stream_index=stream.index,
        stream_label=stream.label,
        status=status,
        language=main.language,
        language_probability=main.language_probability,
        languages=dict(sorted(languages.items())),
        duration_s=max(r.duration_s for _, r, _ in results),
        speech_s=round(sum(r.speech_s for _, r, _ in results), 3),
        audio_sha256=audio_sha256,
        params=asdict(params),
        params_hash=params_hash,
        decode={
            "corrupt_packets": max(s.corrupt_packets for s in all_stats),
            "filled_s": round(max(s.filled_s for s in all_stats), 3),
            "truncated": any(s.truncated for s in all_stats),
            "second_pass_s": round(sum(r.second_pass_s for _, r, _ in results), 3),
        },
        segments=segments,
        channels=channels,
        untranscribed=untranscribed,
        **_model_fields(loaded),
    )


def _summary(recording_id: str, params_hash: str, rows: list[Any], skipped: bool) -> dict[str, Any]:
    return {
        "recording_id": recording_id,
        "stage": STAGE,
        "params_hash": params_hash,
        "skipped": skipped,
        "status": "no_audio" if all(r.status == "no_audio" for r in rows) else "done",
        "streams": [
            {
                "stream_index": r.stream_index,
                "label": r.stream_label,
                "status": r.status,
                "language": r.language,
                "segments": r.segment_count,
                "doubtful": r.doubtful_count,
                "audio_sha256": r.audio_sha256,
                "object_key": r.object_key,
            }
            for r in rows
        ],
    }


def run_transcribe(
    svc: Services,
    recording_id: str,
    params: TranscribeParams,
    progress: Callable[[float], None],
) -> dict[str, Any]:
    """Transcribe every audio stream of the recording's original; see the module docstring."""
    recording = _load_recording(svc, recording_id)
    try:
        loaded = whisper_for(svc.settings, params.model or None)
    except ModelUnavailable as exc:
        raise PermanentError(str(exc)) from exc
    params = params.resolved(loaded)
    params_hash = params_digest(asdict(params))

    with svc.db.session() as session:
        done = transcript_rows(session, recording_id, params_hash=params_hash)
        if done:
            progress(1.0)
            return _summary(recording_id, params_hash, done, skipped=True)

    transcripts: list[Transcript] = []
    keys: dict[int | None, str] = {}
    with svc.store.local_path(recording.object_key) as path:
        streams = _streams(path, recording)
        durations = [s.duration_s or recording.duration_s or 1.0 for s in streams]
        tracker = _Progress(progress, durations)
        for i, stream in enumerate(streams):
            name = f"stream-{stream.index}.json"
            key = derived_key(recording.sha256, STAGE, params_hash, name)
            stored = verified_derivative(svc, recording_id, key)
            if stored is not None:
                # An earlier attempt transcribed this stream and died before indexing it;
                # its output is reused only as the ledgered derivative, digest checked.
                key, body_bytes = stored
                transcript = Transcript.from_dict(json.loads(body_bytes))
            else:
                transcript = _transcribe_stream(
                    loaded, path, stream, recording_id, params, params_hash, tracker.seconds(i)
                )
                body = json.dumps(transcript.to_dict(), ensure_ascii=False, sort_keys=True)
                key = store_derivative(
                    svc,
                    recording,
                    stage=STAGE,
                    params_hash=params_hash,
                    kind="transcript",
                    name=name,
                    source=io.BytesIO(body.encode("utf-8")),
                    content_type="application/json",
                ).object_key
            keys[stream.index] = key
            transcripts.append(transcript)
            tracker.stream_done(i)
    if not transcripts:
        transcripts.append(
            Transcript(
                recording_id=recording_id,
                stream_index=None,
                stream_label="no audio stream",
                status="no_audio",
                params=asdict(params),
                params_hash=params_hash,
                **_model_fields(loaded),
            )
        )

    def index(session: Session) -> dict[str, Any]:
        rows = replace_transcripts(session, recording_id, params_hash, transcripts, keys)
        summary = _summary(recording_id, params_hash, rows, skipped=False)
        svc.ledger.append(
            session,
            actor=svc.actor,
            action="transcribed",
            subject=recording_id,
            details={
                "params_hash": params_hash,
                **loaded.describe(),
                "status": summary["status"],
                "streams": [
                    {
                        "stream_index": t.stream_index,
                        "status": t.status,
                        "language": t.language,
                        "languages": t.languages,
                        "audio_sha256": t.audio_sha256,
                        "segments": len(t.segments),
                        "doubtful": sum(1 for s in t.segments if s.doubtful),
                        "object_key": keys.get(t.stream_index),
                    }
                    for t in transcripts
                ],
            },
        )
        return summary

    summary = svc.db.run(index)
    progress(1.0)
    return summary
