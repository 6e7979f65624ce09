"""The disclosure service: plans made and refreshed, renders with their exposure check,
findings acknowledged. The CLI (and the HTTP routes) call these functions only.

A render is keyed by the plan version's digest: the same plan is rendered once. Its
output is stored write-once as a derivative of the original (stage `render`), the
exposure check runs on that output, and every finding is stored with a thumbnail. An
export of the recording is allowed only when the current plan's render has no open
finding: each is fixed by a new plan version (a region over it, then a new render) or
acknowledged with a reason. Plans, renders, findings and acknowledgements are ledgered.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from disclosure.blur import Box
from disclosure.errors import PlanError, RenderError
from disclosure.exposure_check import EXPOSURE_THRESHOLD, check_exposure
from disclosure.plan import Plan, PlanVersion, TrackItem, current, default_plan, save
from disclosure.render import RenderOptions, frame_regions, render_media
from models.speech.audio import list_audio_streams
from models.vision.detect import load_detector
from models.vision.tracks_store import load_run
from storage.db.schema import Base, Recording, UTCDateTime
from storage.derived import store_derivative
from storage.objects.hashing import derived_key
from storage.services import Services

STAGE = "render"
FINDING_OPEN = "open"
FINDING_ACKNOWLEDGED = "acknowledged"


class RenderRow(Base):
    __tablename__ = "renders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), index=True)
    plan_version: Mapped[int] = mapped_column(Integer)
    plan_sha256: Mapped[str] = mapped_column(String(64), index=True)
    object_key: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer)
    frames_checked: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float] = mapped_column(Float)
    audio_streams: Mapped[int] = mapped_column(Integer)
    detector: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FindingRow(Base):
    __tablename__ = "exposure_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    render_id: Mapped[int] = mapped_column(ForeignKey("renders.id"), index=True)
    recording_id: Mapped[str] = mapped_column(String(36), index=True)
    category: Mapped[str] = mapped_column(String(32))
    first_frame: Mapped[int] = mapped_column(Integer)
    last_frame: Mapped[int] = mapped_column(Integer)
    first_time: Mapped[float] = mapped_column(Float)
    last_time: Mapped[float] = mapped_column(Float)
    frames: Mapped[list[Any]] = mapped_column(JSON, default=list)
    box: Mapped[list[Any]] = mapped_column(JSON, default=list)
    score: Mapped[float] = mapped_column(Float)
    thumbnail_key: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default=FINDING_OPEN)
    ack_by: Mapped[str | None] = mapped_column(String(128))
    ack_reason: Mapped[str | None] = mapped_column(Text)
    ack_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class Finding:
    id: int
    category: str
    first_time: float
    last_time: float
    frames: int
    box: list[float]
    score: float
    state: str
    thumbnail_key: str | None
    ack_reason: str | None

    @classmethod
    def of(cls, row: FindingRow) -> Finding:
        return cls(row.id, row.category, row.first_time, row.last_time, len(row.frames or []),
                   [round(float(v), 1) for v in row.box], round(row.score, 3), row.state,
                   row.thumbnail_key, row.ack_reason)  # fmt: skip


@dataclass(frozen=True)
class RenderSummary:
    render_id: int
    recording_id: str
    plan_version: int
    object_key: str
    sha256: str
    frames: int
    duration_s: float
    audio_streams: int
    findings: list[Finding]
    reused: bool

    @property
    def open_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.state == FINDING_OPEN]


def _recording(session: Session, recording_id: str) -> Recording:
    rec = session.get(Recording, recording_id)
    if rec is None:
        raise PlanError(f"no recording {recording_id}")
    if rec.disposed_at is not None:
        raise PlanError(f"recording {recording_id} was disposed of")
    return rec


def refresh_plan(
    svc: Services, recording_id: str, *, author: str, reason: str | None = None,
    names: list[str] | None = None,
) -> PlanVersion:  # fmt: skip
    """Make the default plan, or bring the current one up to date with detection and
    speech: new tracks redacted, officer decisions on known tracks kept, manual regions
    and mutes kept, spoken-PII mutes found again."""

    def work(session: Session) -> PlanVersion:
        _recording(session, recording_id)
        latest = current(session, recording_id)
        known = list(names or (latest.plan.names if latest else []))
        fresh = default_plan(session, recording_id, known)
        if latest is not None:
            decided = {t.track_no: t for t in latest.plan.tracks}
            if latest.plan.detect_run == fresh.detect_run:
                fresh.tracks = [_keep(t, decided.get(t.track_no)) for t in fresh.tracks]
            fresh.regions = latest.plan.regions
            fresh.full_frame = latest.plan.full_frame
            fresh.mutes = [m for m in latest.plan.mutes if m.source != "pii"] + fresh.mutes
            fresh.transcript = [t for t in latest.plan.transcript if t.source != "pii"] + [
                t for t in fresh.transcript]  # fmt: skip
            fresh.strip_metadata = latest.plan.strip_metadata
        why = reason or ("default plan from detection and speech" if latest is None
                         else "refreshed from detection and speech")  # fmt: skip
        return save(session, svc.ledger, fresh, author=author, reason=why)

    return svc.db.run(work)


def _keep(fresh: TrackItem, decided: TrackItem | None) -> TrackItem:
    if decided is None:
        return fresh
    fresh.redact, fresh.method, fresh.note = decided.redact, decided.method, decided.note
    return fresh


def change_plan(
    svc: Services, recording_id: str, change: Callable[[Plan], None], *, author: str, reason: str
) -> PlanVersion:
    """A new plan version: `change` edits a copy of the current plan."""

    def work(session: Session) -> PlanVersion:
        _recording(session, recording_id)
        latest = current(session, recording_id)
        if latest is None:
            raise PlanError(f"recording {recording_id} has no plan yet: run `custos redact` first")
        plan = Plan.from_dict(latest.plan.to_dict())
        change(plan)
        return save(session, svc.ledger, plan, author=author, reason=reason)

    return svc.db.run(work)


def _summary(session: Session, row: RenderRow, reused: bool) -> RenderSummary:
    findings = session.scalars(
        select(FindingRow).where(FindingRow.render_id == row.id).order_by(FindingRow.id)
    )
    return RenderSummary(row.id, row.recording_id, row.plan_version, row.object_key, row.sha256,
                         row.frames, row.duration_s, row.audio_streams,
                         [Finding.of(f) for f in findings], reused)  # fmt: skip


def latest_render(session: Session, recording_id: str) -> RenderSummary | None:
    """The render of the current plan version, if there is one."""
    plan = current(session, recording_id)
    if plan is None:
        return None
    row = session.scalar(
        select(RenderRow)
        .where(RenderRow.recording_id == recording_id, RenderRow.plan_sha256 == plan.sha256)
        .order_by(RenderRow.id.desc())
    )
    return _summary(session, row, True) if row is not None else None


def render_recording(
    svc: Services,
    recording_id: str,
    *,
    actor: str,
    options: RenderOptions | None = None,
    progress: Callable[[float], None] | None = None,
) -> RenderSummary:
    """Render the current plan (made first if there is none) and check the output."""
    with svc.db.session() as session:
        rec = _recording(session, recording_id)
        plan_version = current(session, recording_id)
    if plan_version is None:
        plan_version = refresh_plan(svc, recording_id, author=actor)
    with svc.db.session() as session:
        done = latest_render(session, recording_id)
        if done is not None:
            return done
        run = load_run(session, recording_id, plan_version.plan.detect_run)
    plan = plan_version.plan
    tracks = {t.track.track_id: t.track for t in run.tracks} if run else {}
    track_size = (run.width, run.height) if run else None
    with svc.store.local_path(rec.object_key) as src, tempfile.TemporaryDirectory() as tmp:
        try:
            audio = [s.index for s in list_audio_streams(src)]
        except Exception as exc:  # noqa: BLE001 - any unreadable source is one clear error
            raise RenderError(f"cannot read {rec.original_name}: {exc}") from exc
        out = Path(tmp) / "redacted.mp4"
        media = render_media(src, out, plan, tracks, track_size, audio, options,
                             _scaled(progress, 0.0, 0.6))  # fmt: skip
        derivative = store_derivative(
            svc, rec, stage=STAGE, params_hash=plan_version.sha256, kind="redacted",
            name="redacted.mp4", source=out, content_type="video/mp4",
        )  # fmt: skip
        detector = load_detector(
            "centerface", svc.settings, threshold=EXPOSURE_THRESHOLD, frame_parallel=True
        )

        def covers(index: int, time: float, size: tuple[int, int]) -> list[Box]:
            groups = frame_regions(plan, tracks, index, time, size, track_size)
            return [box for boxes in groups.values() for box in boxes]

        check = check_exposure(out, detector, covers=covers) if media.frames else None
        exposures = check.findings if check else []
        checked = check.frames_checked if check else 0
        residual = check.residual_detections if check else 0
    thumbs: list[str | None] = []
    for n, exposure in enumerate(exposures):
        key = derived_key(rec.sha256, STAGE, plan_version.sha256, f"finding-{n:04d}.jpg")
        if exposure.thumbnail_jpeg and not svc.store.exists(key):
            svc.store.put(key, io.BytesIO(exposure.thumbnail_jpeg), content_type="image/jpeg")
        thumbs.append(key if exposure.thumbnail_jpeg else None)

    def record(session: Session) -> RenderSummary:
        row = RenderRow(recording_id=recording_id, plan_version=plan_version.version,
                        plan_sha256=plan_version.sha256, object_key=derivative.object_key,
                        sha256=derivative.sha256, size=derivative.size, frames=media.frames,
                        frames_checked=checked, duration_s=media.duration_s,
                        audio_streams=media.audio_streams, detector=dict(detector.identity),
                        created_by=actor, created_at=datetime.now(UTC))  # fmt: skip
        session.add(row)
        session.flush()
        for exposure, thumb in zip(exposures, thumbs, strict=True):
            session.add(FindingRow(
                render_id=row.id, recording_id=recording_id, category=exposure.category,
                first_frame=exposure.first_frame, last_frame=exposure.last_frame,
                first_time=round(exposure.first_time, 3), last_time=round(exposure.last_time, 3),
                frames=exposure.frames, box=list(exposure.box), score=exposure.score,
                thumbnail_key=thumb, state=FINDING_OPEN,
            ))  # fmt: skip
        svc.ledger.append(
            session, actor=actor, action="redaction.rendered", subject=recording_id,
            details={"plan_version": plan_version.version, "plan_sha256": plan_version.sha256,
                     "object_key": derivative.object_key, "sha256": derivative.sha256,
                     "frames": media.frames, "frames_checked": checked,
                     "audio_streams": media.audio_streams, "findings": len(exposures),
                     "residual_detections": residual,
                     "exposure_threshold": EXPOSURE_THRESHOLD},
        )  # fmt: skip
        session.flush()
        return _summary(session, row, False)

    summary = svc.db.run(record)
    if progress is not None:
        progress(1.0)
    return summary


def _scaled(
    progress: Callable[[float], None] | None, low: float, high: float
) -> Callable[[float], None] | None:
    if progress is None:
        return None
    report = progress
    return lambda share: report(low + (high - low) * share)


def acknowledge(
    svc: Services, recording_id: str, finding_id: int, *, actor: str, reason: str
) -> Finding:
    """Accept an exposure finding as it is (a false detection, a face that may be shown),
    with the reason; ledgered."""
    if not reason.strip():
        raise PlanError("an acknowledgement needs a reason")

    def work(session: Session) -> Finding:
        row = session.get(FindingRow, finding_id)
        if row is None or row.recording_id != recording_id:
            raise PlanError(f"no finding {finding_id} for recording {recording_id}")
        if row.state == FINDING_ACKNOWLEDGED:
            raise PlanError(f"finding {finding_id} is already acknowledged: {row.ack_reason}")
        row.state, row.ack_by, row.ack_reason = FINDING_ACKNOWLEDGED, actor, reason.strip()
        row.ack_at = datetime.now(UTC)
        svc.ledger.append(session, actor=actor, action="redaction.finding_acknowledged",
                          subject=recording_id,
                          details={"finding": finding_id, "render": row.render_id,
                                   "first_time": row.first_time, "last_time": row.last_time,
                                   "reason": row.ack_reason})  # fmt: skip
        return Finding.of(row)

    return svc.db.run(work)
