"""Recordings as the service layer hands them out: one look-up for every command and
route (`storage.lookup` rules), detached from any session."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from models.vision.tracks_store import StoredRun, load_run
from storage import lookup
from storage.db.schema import Derivative, Recording
from storage.services import Services


def resolve(svc: Services, ref: str) -> Recording:
    """The recording `ref` names (id, digest, a prefix of either, or file name).

    Raises `lookup.NoSuchRecording` / `lookup.AmbiguousRecording`.
    """
    with svc.db.session() as session:
        return lookup.find_recording(session, ref)


def derivatives(svc: Services, recording_id: str) -> list[Derivative]:
    with svc.db.session() as session:
        return list(
            session.scalars(
                select(Derivative)
                .where(Derivative.recording_id == recording_id)
                .order_by(Derivative.kind, Derivative.id)
            )
        )


def tracks(svc: Services, recording_id: str) -> StoredRun | None:
    """The newest detection run with its tracks (None before detection)."""
    with svc.db.session() as session:
        return load_run(session, recording_id)


def tracks_json(recording: Recording, run: StoredRun) -> dict[str, Any]:
    """A detection run with every track and its keyframes, as JSON."""
    return {
        "recording_id": recording.id,
        "sha256": recording.sha256,
        "run": {
            **run.summary(),
            "params": run.params,
            "model": run.model,
            "width": run.width,
            "height": run.height,
            "fps": run.fps,
            "rotation": run.rotation,
            "created_at": run.created_at.isoformat(),
        },
        "tracks": [
            {
                "track": s.track.track_id,
                "category": s.track.category,
                "first_frame": s.track.first_frame,
                "last_frame": s.track.last_frame,
                "first_seen_frame": s.track.first_seen,
                "last_seen_frame": s.track.last_seen,
                "first_time": s.first_time,
                "last_time": s.last_time,
                "score_max": round(s.track.best.score, 4),
                "frames": s.track.counts(),
                "frame_runs": [list(r) for r in s.track.frame_runs()],
                "keyframes": [[k.frame, k.time, *k.box, k.score] for k in s.track.sightings],
                "thumbnail_key": s.thumbnail_key,
            }
            for s in run.tracks
        ],
    }
