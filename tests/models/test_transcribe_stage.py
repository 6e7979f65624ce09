"""The transcribe stage on real ingested files: streams, no audio, idempotence, CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

from api.cli import app
from models.speech import transcribe_stage
from models.speech.transcribe import Transcript
from models.speech.transcribe_stage import TranscribeParams, run_transcribe
from models.speech.transcripts import TranscriptRow, TranscriptSegmentRow, load_transcripts, search
from storage.config import get_settings
from storage.db.schema import Derivative, LedgerEvent, Recording
from storage.errors import PermanentError
from storage.services import Services
from tests.models.speech_fixtures import (
    REFERENCES,
    ingest_file,
    make_two_stream_file,
    make_video_only,
    model_cache,
    speech,
    wer,
)

Factory = Callable[..., Services]


@pytest.fixture
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_cache(tmp_path_factory)


def _events(svc: Services, action: str) -> list[dict[str, Any]]:
    with svc.db.session() as session:
        rows = session.scalars(select(LedgerEvent).where(LedgerEvent.action == action))
        return [json.loads(r.details) for r in rows]


def test_every_audio_stream_transcribed_and_labelled(
    make_services: Factory, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = make_services(whisper_cache_dir=cache)
    room = make_two_stream_file(tmp_path / "room.mkv", speech("en/stereo_diarization.wav"))
    rec = ingest_file(svc, room, case_no="CASE-7")
    progress: list[float] = []

    summary = run_transcribe(svc, rec, TranscribeParams(), progress.append)

    assert summary["status"] == "done" and not summary["skipped"]
    streams = summary["streams"]
    assert [s["stream_index"] for s in streams] == [1, 2]
    assert [s["label"] for s in streams] == [
        "audio 1, stream #1 (eng, officer)",
        "audio 2, stream #2 (eng, subject)",
    ]
    assert progress == sorted(progress) and progress[-1] == 1.0
    with svc.db.session() as session:
        transcripts = load_transcripts(session, rec)
    texts = [" ".join(s.text for s in t.segments) for t in transcripts]
    assert wer([REFERENCES["left"] + " " + REFERENCES["right"]], [" ".join(texts)]) <= 0.1
    assert "horizon" in texts[1].lower() and "horizon" not in texts[0].lower()
    assert all(t.language == "en" and t.model == "base" for t in transcripts)
    assert transcripts[0].audio_sha256 != transcripts[1].audio_sha256
    batch = transcripts[0].params["batch_size"]
    assert batch == transcribe_stage.DEFAULT_BATCH_SIZE == 0  # sequential, as bare faster-whisper

    # One JSON per stream, hashed and ledgered; the database holds the same transcript.
    with svc.db.session() as session:
        kinds = session.scalars(select(Derivative).where(Derivative.recording_id == rec))
        objects = {d.object_key: d for d in kinds if d.kind == "transcript"}
    assert set(objects) == {s["object_key"] for s in streams}
    stored = Transcript.from_dict(json.loads(svc.store.get_bytes(streams[1]["object_key"])))
    assert stored == transcripts[1]
    (event,) = _events(svc, "transcribed")
    assert event["model"] == "base" and len(event["model_sha256"]) == 64
    assert [s["audio_sha256"] for s in event["streams"]] == [s["audio_sha256"] for s in streams]
    assert [s["language"] for s in event["streams"]] == ["en", "en"]

    hit = search(svc.db, "horizon", case_no="CASE-7")[0]
    assert (hit.recording_id, hit.stream_index) == (rec, 2)
    assert 0.0 <= hit.start < hit.end <= 5.0

    # Again: nothing is transcribed, stored or ledgered twice.
    events_before = len(svc.ledger.events())
    again = run_transcribe(svc, rec, TranscribeParams(), progress.append)
    assert again["skipped"] and again["streams"] == streams
    assert len(svc.ledger.events()) == events_before

    _check_cli(svc, rec, monkeypatch)


def _check_cli(svc: Services, rec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = svc.settings
    monkeypatch.setenv("CUSTOS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CUSTOS_ACTOR", "tester")
    if settings.database_url:
        monkeypatch.setenv("CUSTOS_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        vtt = runner.invoke(app, ["transcript", rec[:8], "--format", "vtt", "--stream", "2"])
        assert vtt.exit_code == 0, vtt.output
        assert vtt.output.startswith("WEBVTT") and "horizon" in vtt.output.lower()
        both = runner.invoke(app, ["transcript", rec, "-f", "txt"])
        assert "== audio 1, stream #1 (eng, officer) ==" in both.output
        found = runner.invoke(app, ["search", "HORIZON", "--case", "CASE-7", "--json"])
        assert found.exit_code == 0, found.output
        assert [h["stream_index"] for h in json.loads(found.output)] == [2]
        missing = runner.invoke(app, ["transcript", "no-such-recording"])
        assert missing.exit_code == 1
    finally:
        get_settings.cache_clear()


def test_no_audio_is_a_status_not_a_failure(
    make_services: Factory, database_url: str, cache: Path, tmp_path: Path
) -> None:
    svc = make_services(database_url=database_url, whisper_cache_dir=cache)
    video = ingest_file(svc, make_video_only(tmp_path / "silent-cctv.mp4"))
    notes = tmp_path / "notes.txt"
    notes.write_text("not media at all\n" * 50)
    other = ingest_file(svc, notes)

    for rec in (video, other):
        summary = run_transcribe(svc, rec, TranscribeParams(), lambda _: None)
        assert summary["status"] == "no_audio"
        assert [(s["stream_index"], s["status"]) for s in summary["streams"]] == [
            (None, "no_audio")
        ]
    events = _events(svc, "transcribed")
    assert [e["status"] for e in events] == ["no_audio", "no_audio"]
    with svc.db.session() as session:
        (t,) = load_transcripts(session, video)
    assert t.status == "no_audio" and t.segments == []


def test_reuses_stored_json_after_a_crash(
    make_services: Factory, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = make_services(whisper_cache_dir=cache)
    rec = ingest_file(svc, speech("zh/BAC009S0764W0121.wav"))
    first = run_transcribe(svc, rec, TranscribeParams(), lambda _: None)
    # As if the worker died after storing the JSON but before indexing it.
    with svc.db.session() as session:
        session.execute(delete(TranscriptSegmentRow))
        session.execute(delete(TranscriptRow))

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("transcribed twice")

    monkeypatch.setattr(transcribe_stage, "transcribe_chunks", must_not_run)
    second = run_transcribe(svc, rec, TranscribeParams(), lambda _: None)
    assert second["streams"] == first["streams"] and not second["skipped"]
    with svc.db.session() as session:
        assert session.scalar(select(func.count()).select_from(TranscriptRow)) == 1
    assert search(svc.db, "交易")[0].recording_id == rec


def test_an_object_without_its_ledgered_derivative_is_not_reused(
    make_services: Factory, cache: Path
) -> None:
    """A transcript put at the stage's key by someone (or left by a dead attempt) with no
    Derivative row is not trusted: the stage transcribes, stores its own output beside it
    and names the stray object in the ledger."""
    import hashlib
    import io

    from models.speech.audio import list_audio_streams
    from storage.objects.hashing import derived_key, params_digest

    svc = make_services(whisper_cache_dir=cache)
    path = speech("zh/BAC009S0764W0121.wav")
    rec = ingest_file(svc, path)
    with svc.db.session() as session:
        recording = session.get(Recording, rec)
        assert recording is not None
    loaded = transcribe_stage.whisper_for(svc.settings)
    params_hash = params_digest(asdict(TranscribeParams().resolved(loaded)))
    stream = list_audio_streams(path)[0]
    key = derived_key(recording.sha256, "transcribe", params_hash, f"stream-{stream.index}.json")
    forged = Transcript(recording_id=rec, stream_index=stream.index, stream_label="x",
                        status="done", segments=[])  # fmt: skip
    forged_body = json.dumps(forged.to_dict()).encode()
    svc.store.put(key, io.BytesIO(forged_body), content_type="application/json")

    run_transcribe(svc, rec, TranscribeParams(), lambda _: None)

    assert search(svc.db, "交易")[0].recording_id == rec, "the forged empty transcript was used"
    (event,) = [e for e in _events(svc, "derived") if e.get("kind") == "transcript"]
    assert event["unverified_object_left"] == key
    assert event["key"] != key
    assert event["sha256"] != hashlib.sha256(forged_body).hexdigest()


def test_permanent_errors(make_services: Factory, cache: Path) -> None:
    svc = make_services(whisper_cache_dir=cache)
    with pytest.raises(PermanentError, match="no recording"):
        run_transcribe(svc, "missing", TranscribeParams(), lambda _: None)
    rec = ingest_file(svc, speech("en/jfk.flac"))
    with pytest.raises(PermanentError, match="unknown Whisper model"):
        run_transcribe(svc, rec, TranscribeParams(model="large-v9"), lambda _: None)
    with pytest.raises(ValueError):
        TranscribeParams(window_s=5)
