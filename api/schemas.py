"""Pydantic response schemas: what the HTTP API returns, built from the domain's objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from api.services.access import AccessEvent
from api.services.users import User
from models.transcripts import SearchHit
from storage.db.schema import Recording
from storage.ledger import VerifyReport


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
