"""Redaction plans: what is hidden in a disclosure, versioned, every change with who and why.

A plan is a JSON body stored whole in each version (`redaction_plans`), so any export names
exactly what was applied. The default plan comes from detection and transcripts: every
face, plate and screen track is redacted; spoken identity, phone and card numbers found
by `models.speech.pii` are muted and their words masked in the transcript. An officer can keep a
track visible, add manual regions (rectangle or ellipse, keyframed and interpolated),
full-frame spans, mutes, and must give a reason (the legal basis) for each version.
Every version is ledgered with the digest of its body.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from disclosure.errors import PlanError
from models.speech.transcripts import load_transcripts
from models.vision.tracks_store import load_run
from storage.db.schema import Base, Recording, UTCDateTime
from storage.ledger import Ledger

Method = Literal["blur", "pixelate", "solid"]
REDACTED_CATEGORIES = ("face", "plate", "screen", "document")
MUTE_MARGIN_S = 0.25


class PlanRow(Base):
    __tablename__ = "redaction_plans"
    __table_args__ = (UniqueConstraint("recording_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass
class TrackItem:
    track_no: int
    category: str
    first_time: float
    last_time: float
    redact: bool = True
    method: Method = "blur"
    note: str = ""


@dataclass
class Region:
    """A manual region: box keyframes [t, x1, y1, x2, y2] interpolated between, in pixels
    of the upright frame; one keyframe holds the box for [start, end]."""

    id: str
    start: float
    end: float
    keyframes: list[list[float]]
    shape: Literal["rect", "ellipse"] = "rect"
    method: Method = "blur"
    note: str = ""

    def box_at(self, t: float) -> tuple[float, float, float, float] | None:
        if not self.start <= t <= self.end or not self.keyframes:
            return None
        keys = sorted(self.keyframes)
        if t <= keys[0][0]:
            return _box(keys[0])
        for a, b in zip(keys, keys[1:], strict=False):
            if a[0] <= t <= b[0]:
                w = (t - a[0]) / (b[0] - a[0]) if b[0] > a[0] else 0.0
                return _box([a[k] + w * (b[k] - a[k]) for k in range(5)])
        return _box(keys[-1])


def _box(key: list[float]) -> tuple[float, float, float, float]:
    return (float(key[1]), float(key[2]), float(key[3]), float(key[4]))


@dataclass
class FullFrame:
    start: float
    end: float
    method: Method = "solid"
    note: str = ""


@dataclass
class Mute:
    stream_index: int
    start: float
    end: float
    mode: Literal["mute", "bleep"] = "mute"
    kind: str = "manual"  # what it hides: mobile, id_card, ... or manual
    text: str = ""  # what was heard, for the redaction log (never exported in clear)
    channel: int | None = None
    source: str = "manual"  # pii | manual


@dataclass
class TextRedaction:
    stream_index: int
    start: float
    end: float
    kind: str
    source: str = "pii"


@dataclass
class Plan:
    recording_id: str
    tracks: list[TrackItem] = field(default_factory=list)
    regions: list[Region] = field(default_factory=list)
    full_frame: list[FullFrame] = field(default_factory=list)
    mutes: list[Mute] = field(default_factory=list)
    transcript: list[TextRedaction] = field(default_factory=list)
    strip_metadata: bool = True
    detect_run: str | None = None  # params hash of the detection the tracks come from
    names: list[str] = field(default_factory=list)  # personal names to find in speech

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(
            recording_id=data["recording_id"],
            tracks=[TrackItem(**t) for t in data.get("tracks", [])],
            regions=[Region(**r) for r in data.get("regions", [])],
            full_frame=[FullFrame(**f) for f in data.get("full_frame", [])],
            mutes=[Mute(**m) for m in data.get("mutes", [])],
            transcript=[TextRedaction(**t) for t in data.get("transcript", [])],
            strip_metadata=bool(data.get("strip_metadata", True)),
            detect_run=data.get("detect_run"),
            names=list(data.get("names", [])),
        )

    def digest(self) -> str:
        body = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class PlanVersion:
    version: int
    plan: Plan
    sha256: str
    author: str
    reason: str
    created_at: datetime


def default_plan(session: Session, recording_id: str, names: list[str] | None = None) -> Plan:
    """Everything detection and the PII finder found, redacted."""
    plan = Plan(recording_id=recording_id, names=list(names or []))
    run = load_run(session, recording_id)
    if run is not None:
        plan.detect_run = run.params_hash
        for stored in run.tracks:
            track = stored.track
            plan.tracks.append(
                TrackItem(
                    track_no=track.track_id,
                    category=track.category,
                    first_time=round(stored.first_time, 3),
                    last_time=round(stored.last_time, 3),
                    redact=track.category in REDACTED_CATEGORIES,
                )
            )
    plan.mutes, plan.transcript = spoken_pii(session, recording_id, plan.names)
    return plan


def spoken_pii(
    session: Session, recording_id: str, names: list[str]
) -> tuple[list[Mute], list[TextRedaction]]:
    """Mute spans and transcript redactions for what `models.speech.pii` finds in the speech."""
    from models.speech.pii import find_pii

    mutes: list[Mute] = []
    texts: list[TextRedaction] = []
    for transcript in load_transcripts(session, recording_id):
        if transcript.stream_index is None:
            continue
        for found in find_pii(transcript, names=names, margin_s=MUTE_MARGIN_S):
            mutes.append(Mute(stream_index=transcript.stream_index, start=found.start,
                              end=found.end, kind=found.kind, text=found.text,
                              channel=found.channel, source="pii"))  # fmt: skip
            texts.append(TextRedaction(stream_index=transcript.stream_index, start=found.start,
                                       end=found.end, kind=found.kind))  # fmt: skip
    return mutes, texts


def versions(session: Session, recording_id: str) -> list[PlanVersion]:
    rows = session.scalars(
        select(PlanRow).where(PlanRow.recording_id == recording_id).order_by(PlanRow.version)
    )
    return [
        PlanVersion(r.version, Plan.from_dict(r.body), r.sha256, r.author, r.reason, r.created_at)
        for r in rows
    ]


def current(session: Session, recording_id: str) -> PlanVersion | None:
    found = versions(session, recording_id)
    return found[-1] if found else None


def save(session: Session, ledger: Ledger, plan: Plan, *, author: str, reason: str) -> PlanVersion:
    """Store `plan` as the next version (unless it equals the current one) and ledger it."""
    if not reason.strip():
        raise PlanError("every plan version needs a reason (its legal basis)")
    if session.get(Recording, plan.recording_id) is None:
        raise PlanError(f"no recording {plan.recording_id}")
    _validate(plan)
    latest = current(session, plan.recording_id)
    digest = plan.digest()
    if latest is not None and latest.sha256 == digest:
        return latest
    version = (latest.version if latest else 0) + 1
    now = datetime.now(UTC)
    session.add(PlanRow(recording_id=plan.recording_id, version=version, body=plan.to_dict(),
                        sha256=digest, author=author, reason=reason.strip(),
                        created_at=now))  # fmt: skip
    ledger.append(
        session,
        actor=author,
        action="redaction.plan",
        subject=plan.recording_id,
        details={
            "version": version,
            "sha256": digest,
            "reason": reason.strip(),
            "tracks_redacted": sum(t.redact for t in plan.tracks),
            "tracks_kept": sum(not t.redact for t in plan.tracks),
            "regions": len(plan.regions),
            "full_frame": len(plan.full_frame),
            "mutes": len(plan.mutes),
        },
    )
    session.flush()
    return PlanVersion(version, plan, digest, author, reason.strip(), now)


def _validate(plan: Plan) -> None:
    for region in plan.regions:
        if region.end < region.start or not region.keyframes:
            raise PlanError(f"region {region.id}: needs keyframes and end >= start")
        for key in region.keyframes:
            if len(key) != 5 or key[3] <= key[1] or key[4] <= key[2]:
                raise PlanError(f"region {region.id}: keyframe {key} is not [t, x1, y1, x2, y2]")
    spans: list[tuple[float, float]] = [(f.start, f.end) for f in plan.full_frame]
    spans += [(m.start, m.end) for m in plan.mutes]
    for start, end in spans:
        if end < start or start < 0:
            raise PlanError(f"span {start}-{end} is not a time range")
