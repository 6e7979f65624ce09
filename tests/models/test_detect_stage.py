"""The detect stage on real ingested clips: tracks, thumbnails, ledger, idempotence, CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from api.cli import app
from models.vision.detect.centerface import CenterFace
from models.vision.detect_stage import DetectParams, detect_and_track, run_detect
from models.vision.track import frame_boxes
from models.vision.tracks_store import load_run
from storage.config import get_settings
from storage.db.schema import Derivative, LedgerEvent
from storage.errors import PermanentError
from storage.services import Services
from tests.models.detect_fixtures import GRID_CLIPS, ffmpeg, ingest_file, media


def _events(svc: Services, action: str) -> list[dict[str, Any]]:
    with svc.db.session() as session:
        rows = session.scalars(select(LedgerEvent).where(LedgerEvent.action == action))
        return [json.loads(r.details) for r in rows]


def _count(svc: Services, model: type) -> int:
    with svc.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.media
def test_stage_tracks_the_face_and_is_idempotent(svc: Services) -> None:
    recording = ingest_file(svc, media("av", GRID_CLIPS[0]))
    progress: list[float] = []

    summary = run_detect(svc, recording, DetectParams(), progress.append)

    assert summary["status"] == "done"
    assert summary["frames"] == 75 and summary["corrupt_frames"] == 0
    assert 0 < summary["detect_frames"] < 75
    assert summary["tracks_by_category"] == {"face": 1}
    assert progress[-1] == 1.0 and progress == sorted(progress) and len(progress) > 10

    with svc.db.session() as session:
        run = load_run(session, recording)
    assert run is not None and run.summary()["tracks"] == 1
    assert (run.width, run.height, run.frame_count) == (360, 288, 75)
    stored = run.tracks[0]
    track = stored.track
    assert (track.first_frame, track.last_frame) == (0, 74)
    assert sum(track.counts().values()) == 75
    assert track.counts()["detected"] == summary["detect_frames"]
    assert stored.first_time == 0.0 and stored.last_time == pytest.approx(2.96)
    x1, y1, x2, y2 = track.best.box
    assert 60 < x2 - x1 < 200 and 60 < y2 - y1 < 250  # one talking head, face-sized

    # The thumbnail is a stored, ledgered derivative holding a face crop.
    assert stored.thumbnail_key is not None and stored.thumbnail_key == summary["thumbnails"][0]
    with svc.store.open(stored.thumbnail_key) as handle:
        jpeg = handle.read()
    crop = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert crop is not None and 32 < max(crop.shape[:2]) <= 128
    assert CenterFace(svc.settings.resolved_model_cache).detect([crop[..., ::-1].copy()])[0]

    (event,) = _events(svc, "detected")
    assert event["tracks"] == 1 and event["tracks_sha256"] == summary["tracks_sha256"]
    assert event["source_sha256"] and event["model"]["model"] == "centerface"
    derived = [e for e in _events(svc, "derived") if e["stage"] == "detect"]
    assert len(derived) == 1

    # A repeated job finds the run and does nothing twice.
    derivatives, events = _count(svc, Derivative), _count(svc, LedgerEvent)
    again = run_detect(svc, recording, DetectParams(), lambda _: None)
    assert again["status"] == "exists" and again["tracks_sha256"] == summary["tracks_sha256"]
    assert (_count(svc, Derivative), _count(svc, LedgerEvent)) == (derivatives, events)


@pytest.mark.media
def test_stored_keyframes_rebuild_every_frame_box(svc_sqlite: Services) -> None:
    svc = svc_sqlite
    path = media("av", GRID_CLIPS[1])
    recording = ingest_file(svc, path)
    params = DetectParams()
    run_detect(svc, recording, params, lambda _: None)
    with svc.db.session() as session:
        run = load_run(session, recording)
    assert run is not None
    detector = CenterFace(svc.settings.resolved_model_cache, threshold=0.05)
    fresh = detect_and_track(path, detector, params)
    stored_boxes = frame_boxes([s.track for s in run.tracks], run.frame_count)
    fresh_boxes = frame_boxes(fresh.tracks, len(fresh.frame_times))
    assert len(stored_boxes) == len(fresh_boxes) == 75
    for got, want in zip(stored_boxes, fresh_boxes, strict=True):
        assert len(got) == len(want)
        assert np.allclose(np.array(got), np.array(want), atol=0.5)  # keyframes rounded to 0.1


@pytest.mark.media
def test_rotated_recording_is_detected_upright(svc_sqlite: Services, tmp_path: Path) -> None:
    # Pixels stored sideways, container says rotate for display: the face is upright only
    # if rotation is applied before detection.
    sideways = tmp_path / "sideways.mp4"
    ffmpeg("-i", str(media("av", GRID_CLIPS[0])), "-t", "1", "-vf", "transpose=2", "-an",
           "-c:v", "libx264", str(sideways))  # fmt: skip
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-i", str(sideways), "-c", "copy", "-metadata:s:v", "rotate=270", str(rotated))
    recording = ingest_file(svc_sqlite, rotated)
    summary = run_detect(svc_sqlite, recording, DetectParams(), lambda _: None)
    assert summary["tracks_by_category"] == {"face": 1}
    with svc_sqlite.db.session() as session:
        run = load_run(session, recording)
    assert run is not None and (run.width, run.height) == (360, 288) and run.rotation in (90, 270)
    box = run.tracks[0].track.best.box
    assert box[2] <= 360 and box[3] <= 288 and (box[3] - box[1]) > (box[2] - box[0]) * 0.9


def test_params_round_trip_and_from_settings(tmp_path: Path) -> None:
    from dataclasses import asdict

    from models.vision.track import TrackParams
    from storage.config import Settings

    params = DetectParams(max_side=960, track=TrackParams(detect_every=2, max_detect_every=4))
    assert DetectParams.from_json(json.loads(json.dumps(asdict(params)))) == params
    plain = Settings(data_dir=tmp_path)
    assert DetectParams.from_settings(plain).detectors == ("centerface",)
    with_yolo = Settings(data_dir=tmp_path, yolo_weights=Path("w.pt"), yolo_class_map="0:person")
    assert DetectParams.from_settings(with_yolo).detectors == ("centerface", "yolo")
    only_yolo = Settings(data_dir=tmp_path, face_detector="yolo", yolo_weights=Path("w.pt"))
    assert DetectParams.from_settings(only_yolo, batch=4) == DetectParams(
        detectors=("yolo",), batch=4
    )


def test_non_video_recordings(svc_sqlite: Services, tmp_path: Path) -> None:
    tone = tmp_path / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(tone))
    recording = ingest_file(svc_sqlite, tone)
    summary = run_detect(svc_sqlite, recording, DetectParams(), lambda _: None)
    assert summary["status"] == "skipped"
    with pytest.raises(PermanentError, match="no recording"):
        run_detect(svc_sqlite, "no-such-id", DetectParams(), lambda _: None)
    with pytest.raises(ValueError):
        DetectParams(detectors=("opencv",))


@pytest.mark.media
def test_yolo_requested_without_weights_is_permanent(svc_sqlite: Services) -> None:
    recording = ingest_file(svc_sqlite, media("av", GRID_CLIPS[0]))
    with pytest.raises(PermanentError, match="CUSTOS_YOLO_WEIGHTS"):
        run_detect(svc_sqlite, recording, DetectParams(detectors=("yolo",)), lambda _: None)


@pytest.mark.media
def test_cli_lists_tracks(svc_sqlite: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = svc_sqlite
    recording = ingest_file(svc, media("av", GRID_CLIPS[0]))
    runner = CliRunner()
    monkeypatch.setenv("CUSTOS_DATA_DIR", str(svc.settings.data_dir))
    monkeypatch.setenv("CUSTOS_ACTOR", "tester")
    get_settings.cache_clear()
    try:
        before = runner.invoke(app, ["tracks", recording])
        assert before.exit_code == 1 and "not been through detection" in _flat(before.output)
        run_detect(svc, recording, DetectParams(), lambda _: None)
        listed = runner.invoke(app, ["tracks", recording])
        assert listed.exit_code == 0, listed.output
        assert "face" in listed.output and "1 tracks in 75 frames" in _flat(listed.output)
        with svc.db.session() as session:
            run = load_run(session, recording)
        assert run is not None
        sha = _sha(svc, recording)
        as_json = runner.invoke(app, ["tracks", sha[:12], "--json"])
        assert as_json.exit_code == 0, as_json.output
        body = json.loads(as_json.output)
        assert body["recording_id"] == recording and len(body["tracks"]) == 1
        track = body["tracks"][0]
        assert track["category"] == "face" and track["frames"]["detected"] == run.detect_frames
        assert track["frame_runs"][0][0] == 0 and track["frame_runs"][-1][1] == 74
        assert len(track["keyframes"]) == run.detect_frames
        missing = runner.invoke(app, ["tracks", "nope"])
        assert missing.exit_code == 1 and "no recording" in _flat(missing.output)
    finally:
        get_settings.cache_clear()


def _flat(text: str) -> str:
    return " ".join(text.split())


def _sha(svc: Services, recording_id: str) -> str:
    from storage.db.schema import Recording

    with svc.db.session() as session:
        row = session.get(Recording, recording_id)
        assert row is not None
        return row.sha256
