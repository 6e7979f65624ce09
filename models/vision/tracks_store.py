"""Tracks in the database, stored compactly.

One `detect_runs` row per (recording, parameters) and one `detect_tracks` row per
track. A track keeps only its keyframes (the detected boxes with frame, time and
score) plus its covered frame range; the box of any other frame is recomputed from
them with the padding and growth recorded in the run's parameters, exactly as the
stage computed it. An hour of video with a face in view stores a few thousand
keyframes, not a hundred thousand boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    delete,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.vision.track import Sighting, Track
from storage.db.schema import Base, UTCDateTime


class DetectRun(Base):
    __tablename__ = "detect_runs"
    __table_args__ = (UniqueConstraint("recording_id", "params_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), index=True)
    params_hash: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    model: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    frame_count: Mapped[int] = mapped_column(Integer)
    corrupt_frames: Mapped[int] = mapped_column(Integer)
    detect_frames: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    fps: Mapped[float] = mapped_column(Float)
    rotation: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float | None] = mapped_column(Float)
    tracks_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))


class TrackRow(Base):
    __tablename__ = "detect_tracks"
    __table_args__ = (UniqueConstraint("run_id", "track_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("detect_runs.id", ondelete="CASCADE"), index=True
    )
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), index=True)
    track_no: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(16))
    first_frame: Mapped[int] = mapped_column(Integer)  # covered range, extension included
    last_frame: Mapped[int] = mapped_column(Integer)
    first_seen_frame: Mapped[int] = mapped_column(Integer)
    last_seen_frame: Mapped[int] = mapped_column(Integer)
    first_time: Mapped[float] = mapped_column(Float)
    last_time: Mapped[float] = mapped_column(Float)
    score_max: Mapped[float] = mapped_column(Float)
    score_mean: Mapped[float] = mapped_column(Float)
    detected_frames: Mapped[int] = mapped_column(Integer)
    interpolated_frames: Mapped[int] = mapped_column(Integer)
    extended_frames: Mapped[int] = mapped_column(Integer)
    keyframes: Mapped[list[Any]] = mapped_column(
        JSON, default=list
    )  # [frame, t, x1, y1, x2, y2, s]
    thumbnail_key: Mapped[str | None] = mapped_column(String(255))


@dataclass
class StoredTrack:
    track: Track
    first_time: float
    last_time: float
    thumbnail_key: str | None


@dataclass
class StoredRun:
    id: int
    recording_id: str
    params_hash: str
    params: dict[str, Any]
    model: dict[str, Any]
    frame_count: int
    corrupt_frames: int
    detect_frames: int
    width: int
    height: int
    fps: float
    rotation: int
    duration_s: float | None
    tracks_sha256: str
    created_at: datetime
    tracks: list[StoredTrack]

    def summary(self) -> dict[str, Any]:
        by_category: dict[str, int] = {}
        for stored in self.tracks:
            by_category[stored.track.category] = by_category.get(stored.track.category, 0) + 1
        return {
            "run_id": self.id,
            "params_hash": self.params_hash,
            "frames": self.frame_count,
            "corrupt_frames": self.corrupt_frames,
            "detect_frames": self.detect_frames,
            "tracks": len(self.tracks),
            "tracks_by_category": by_category,
            "tracks_sha256": self.tracks_sha256,
            "thumbnails": [s.thumbnail_key for s in self.tracks if s.thumbnail_key],
        }


def keyframes_json(track: Track) -> list[list[float]]:
    return [
        [s.frame, round(s.time, 4), *(round(v, 1) for v in s.box), round(s.score, 4)]
        for s in track.sightings
    ]


def track_row(track: Track, frame_times: list[float], thumbnail_key: str | None) -> dict[str, Any]:
    """Column values of one track (without run and recording ids)."""
    counts = track.counts()
    scores = [s.score for s in track.sightings]
    return {
        "track_no": track.track_id,
        "category": track.category,
        "first_frame": track.first_frame,
        "last_frame": track.last_frame,
        "first_seen_frame": track.first_seen,
        "last_seen_frame": track.last_seen,
        "first_time": round(frame_times[track.first_frame], 4),
        "last_time": round(frame_times[track.last_frame], 4),
        "score_max": round(max(scores), 4),
        "score_mean": round(sum(scores) / len(scores), 4),
        "detected_frames": counts["detected"],
        "interpolated_frames": counts["interpolated"],
        "extended_frames": counts["extended"],
        "keyframes": keyframes_json(track),
        "thumbnail_key": thumbnail_key,
    }


def replace_run(session: Session, run: dict[str, Any], tracks: list[dict[str, Any]]) -> DetectRun:
    """Write a run and its tracks, replacing any earlier run with the same key."""
    old = session.scalar(
        select(DetectRun).where(
            DetectRun.recording_id == run["recording_id"],
            DetectRun.params_hash == run["params_hash"],
        )
    )
    if old is not None:
        session.execute(delete(TrackRow).where(TrackRow.run_id == old.id))
        session.delete(old)
        session.flush()
    row = DetectRun(**run)
    session.add(row)
    session.flush()
    session.add_all(
        TrackRow(run_id=row.id, recording_id=run["recording_id"], **values) for values in tracks
    )
    return row


def _to_track(row: TrackRow, run: DetectRun) -> Track:
    track_params = run.params.get("track", {})
    return Track(
        track_id=row.track_no,
        category=row.category,
        sightings=[
            Sighting(int(k[0]), float(k[1]), (k[2], k[3], k[4], k[5]), float(k[6]))
            for k in row.keyframes
        ],
        first_frame=row.first_frame,
        last_frame=row.last_frame,
        frame_size=(run.width, run.height),
        pad=float(track_params.get("pad", 1.3)),
        extend_growth=float(track_params.get("extend_growth", 0.5)),
    )


def load_run(
    session: Session, recording_id: str, params_hash: str | None = None
) -> StoredRun | None:
    """The run with these parameters, or the newest run of the recording."""
    query = select(DetectRun).where(DetectRun.recording_id == recording_id)
    if params_hash is not None:
        query = query.where(DetectRun.params_hash == params_hash)
    run = session.scalar(query.order_by(DetectRun.created_at.desc(), DetectRun.id.desc()))
    if run is None:
        return None
    rows = session.scalars(
        select(TrackRow).where(TrackRow.run_id == run.id).order_by(TrackRow.track_no)
    )
    return StoredRun(
        id=run.id,
        recording_id=run.recording_id,
        params_hash=run.params_hash,
        params=dict(run.params),
        model=dict(run.model),
        frame_count=run.frame_count,
        corrupt_frames=run.corrupt_frames,
        detect_frames=run.detect_frames,
        width=run.width,
        height=run.height,
        fps=run.fps,
        rotation=run.rotation,
        duration_s=run.duration_s,
        tracks_sha256=run.tracks_sha256,
        created_at=run.created_at,
        tracks=[
            StoredTrack(_to_track(r, run), r.first_time, r.last_time, r.thumbnail_key) for r in rows
        ],
    )
