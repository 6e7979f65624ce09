"""Tables for cases, their steps, recording-to-step links and retention disposals.

Created by migration 0006 (`storage/db/migrations/versions/0006_cases.py`). All
times are stored in UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db.schema import Base, UTCDateTime

LINK_SUGGESTED = "suggested"
LINK_CONFIRMED = "confirmed"
LINK_REJECTED = "rejected"
CASE_OPEN = "open"
CASE_CLOSED = "closed"


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_no: Mapped[str] = mapped_column(String(128), unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    unit: Mapped[str | None] = mapped_column(String(128), index=True)
    case_type: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default=CASE_OPEN)  # open | closed
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Step(Base):
    """One step of an enforcement action, with the window it took place in."""

    __tablename__ = "case_steps"
    __table_args__ = (UniqueConstraint("case_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))  # unique within the case, e.g. "S3"
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text, default="")
    start_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    place: Mapped[str | None] = mapped_column(Text)
    officers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    devices: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Link(Base):
    """The part of a recording that belongs to a step, and what it proves."""

    __tablename__ = "case_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), index=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("case_steps.id"), index=True)
    range_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    range_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    proves: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)  # suggested|confirmed|rejected
    basis: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # why it was suggested
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(128))


DISPOSAL_PENDING = "pending"
DISPOSAL_DONE = "done"


class Disposal(Base):
    """A retention disposal: who asked, who approved, what was deleted."""

    __tablename__ = "disposals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(255))
    category: Mapped[str] = mapped_column(String(64))
    retention_end: Mapped[datetime] = mapped_column(UTCDateTime())
    requested_by: Mapped[str] = mapped_column(String(128))
    approved_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    disposed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    object_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_keys: Mapped[list[Any]] = mapped_column(JSON, default=list)
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger)
    # pending: decided and committed, objects still to delete (finish_disposals); done.
    state: Mapped[str] = mapped_column(String(16), default="done")
    pending_keys: Mapped[list[Any]] = mapped_column(JSON, default=list)
    last_error: Mapped[str | None] = mapped_column(Text)
