"""Pydantic response schemas: what the HTTP API returns, built from the domain's objects."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.services.access import AccessEvent
from api.services.users import User
from disclosure.exports import ExportRecord
from disclosure.plan import PlanVersion
from disclosure.renders import Finding, RenderSummary
from models.speech.transcripts import SearchHit
from storage.db.schema import Derivative, LedgerEvent, Recording
from storage.ledger import VerifyReport
from workers.jobs import JobView


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


class UserOut(BaseModel):
    name: str
    role: str
    cases: list[str]
    disabled: bool

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(name=user.name, role=user.role, cases=sorted(user.cases), disabled=user.disabled)


class RecordingOut(BaseModel):
    id: str
    sha256: str
    sm3: str | None
    size: int
    original_name: str
    media_kind: str
    status: str
    reason: str | None
    duration_s: float | None
    width: int | None
    height: int | None
    capture_start: datetime | None
    device_id: str | None
    device_kind: str
    case_no: str | None
    step: str | None
    collector: str | None
    location: str | None
    proves: str | None
    incomplete: bool
    ingested_at: datetime
    ingested_by: str
    legal_hold: bool
    disposed_at: datetime | None

    @classmethod
    def of(cls, rec: Recording) -> RecordingOut:
        return cls.model_validate(rec, from_attributes=True)


class CaseOut(BaseModel):
    case_no: str


class DerivativeOut(BaseModel):
    kind: str
    sha256: str
    size: int
    source_sha256: str
    created_at: datetime

    @classmethod
    def of(cls, d: Derivative) -> DerivativeOut:
        return cls.model_validate(d, from_attributes=True)


class StepOut(BaseModel):
    id: int
    key: str
    kind: str
    title: str
    start: str | None
    end: str | None
    officers: list[Any]
    devices: list[Any]
    place: str | None


class LinkIn(BaseModel):
    """A link of (part of) a recording to a step of the case, made by the caller."""

    recording: str = Field(min_length=1, max_length=200)
    step: str = Field(min_length=1, max_length=200)
    start: str | None = Field(default=None, max_length=64, description="ISO time or offset")
    end: str | None = Field(default=None, max_length=64, description="ISO time or offset")
    proves: str | None = Field(default=None, max_length=2000)


class LinkOut(BaseModel):
    link_id: int
    recording_id: str
    recording_name: str
    step_key: str
    start: datetime | None
    end: datetime | None
    trimmed: str


class DecidedOut(BaseModel):
    decided: list[int]


class ReasonFlagIn(BaseModel):
    required: bool


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    role: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=1, max_length=1000)


class GrantIn(BaseModel):
    case_no: str = Field(min_length=1, max_length=128)


class SearchHitOut(BaseModel):
    recording_id: str
    stream_index: int | None
    start: float
    end: float
    snippet: str
    segment_start: float
    segment_end: float
    language: str | None
    doubtful: bool
    case_no: str | None
    channel: int | None

    @classmethod
    def of(cls, hit: SearchHit) -> SearchHitOut:
        return cls.model_validate(hit, from_attributes=True)


class AccessEventOut(BaseModel):
    seq: int
    ts: str
    user: str
    action: str
    subject: str
    details: dict[str, Any]

    @classmethod
    def of(cls, event: AccessEvent) -> AccessEventOut:
        return cls.model_validate(event, from_attributes=True)


class LedgerVerifyOut(BaseModel):
    ok: bool
    events: int
    checkpoints: int
    first_bad_seq: int | None
    problem: str | None
    anchors: int
    unanchored: int

    @classmethod
    def of(cls, report: VerifyReport) -> LedgerVerifyOut:
        return cls.model_validate(report, from_attributes=True)


class UploadOut(BaseModel):
    id: str
    length: int
    offset: int
    state: str
    metadata: dict[str, str]
    receipt_entry: dict[str, Any] | None
    receipt_run: str | None
    error: str | None


class PlanVersionOut(BaseModel):
    version: int
    sha256: str
    author: str
    reason: str
    created_at: datetime
    plan: dict[str, Any]

    @classmethod
    def of(cls, pv: PlanVersion) -> PlanVersionOut:
        return cls(version=pv.version, sha256=pv.sha256, author=pv.author, reason=pv.reason,
                   created_at=pv.created_at, plan=pv.plan.to_dict())  # fmt: skip


class PlanOut(BaseModel):
    """The current redaction plan (None before the first) and every version's header."""

    recording_id: str
    current: PlanVersionOut | None
    versions: list[PlanVersionOut]


class FindingOut(BaseModel):
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
    def of(cls, finding: Finding) -> FindingOut:
        return cls.model_validate(finding, from_attributes=True)


class RenderOut(BaseModel):
    render_id: int
    recording_id: str
    plan_version: int
    object_key: str
    sha256: str
    frames: int
    duration_s: float
    audio_streams: int
    findings: list[FindingOut]
    open_findings: int
    reused: bool

    @classmethod
    def of(cls, summary: RenderSummary) -> RenderOut:
        return cls(render_id=summary.render_id, recording_id=summary.recording_id,
                   plan_version=summary.plan_version, object_key=summary.object_key,
                   sha256=summary.sha256, frames=summary.frames,
                   duration_s=summary.duration_s, audio_streams=summary.audio_streams,
                   findings=[FindingOut.of(f) for f in summary.findings],
                   open_findings=len(summary.open_findings), reused=summary.reused)  # fmt: skip


class ExportOut(BaseModel):
    id: str
    recording_id: str
    case_no: str | None
    purpose: str
    recipient: str
    exported_by: str
    exported_at: datetime
    sha256: str
    tagmanifest_sha256: str
    size: int
    plan_version: int | None
    key_fingerprint: str
    withdrawn: bool
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    withdraw_reason: str | None

    @classmethod
    def of(cls, record: ExportRecord) -> ExportOut:
        return cls.model_validate(record, from_attributes=True)


class JobOut(BaseModel):
    id: str
    recording_id: str
    recording_name: str
    stage: str
    queue: str
    status: str
    attempts: int
    progress: float
    worker: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    seconds: float | None

    @classmethod
    def of(cls, job: JobView) -> JobOut:
        return cls.model_validate(job, from_attributes=True)


class LedgerEventOut(BaseModel):
    seq: int
    ts: str
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    hash: str

    @classmethod
    def of(cls, event: LedgerEvent) -> LedgerEventOut:
        return cls(seq=event.seq, ts=event.ts, actor=event.actor, action=event.action,
                   subject=event.subject, details=json.loads(event.details),
                   hash=event.hash)  # fmt: skip
