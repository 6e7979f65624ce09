"""Export records: every package handed out, where its zip is kept, and its withdrawal.

A package is stored write-once in the object store as `exports/<export id>.zip`
(`store_package`), then recorded in the `exports` table with a ledger event
`disclosure.exported` (`record_export`). When the decision behind a disclosure is revoked,
the export is withdrawn (`withdraw`, ledgered `disclosure.withdrawn`); it is never deleted.
`write_revocations` writes the signed list of withdrawn exports for publishing beside the
released packages: `custos verify PACKAGE --revocations FILE` then refuses a withdrawn one.

Created by migration 0013 (`storage/db/migrations/versions/0013_exports.py`).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from disclosure.errors import DisclosureError
from disclosure.package import (
    PackageContents,
    PackageInfo,
    Revocation,
    RevocationList,
    iso_utc,
    sign_revocations,
)
from storage.db.schema import Base, UTCDateTime
from storage.errors import ObjectExists
from storage.ledger import Ledger
from storage.ledger_keys import SigningKey
from storage.objects import ObjectStore

EXPORTS_PREFIX = "exports/"
ACTION_EXPORTED = "disclosure.exported"
ACTION_WITHDRAWN = "disclosure.withdrawn"


class ExportError(DisclosureError):
    """An export that cannot be stored, recorded or withdrawn as asked."""


class ExportRow(Base):
    __tablename__ = "exports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the package's export id
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), index=True)
    case_no: Mapped[str | None] = mapped_column(String(128), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # public | party | court
    recipient: Mapped[str] = mapped_column(Text)
    exported_by: Mapped[str] = mapped_column(String(128))
    exported_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    object_key: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    tagmanifest_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    plan_version: Mapped[int | None] = mapped_column(Integer)
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_by: Mapped[str | None] = mapped_column(String(128))
    withdraw_reason: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True)
class ExportRecord:
    id: str
    recording_id: str
    case_no: str | None
    purpose: str
    recipient: str
    exported_by: str
    exported_at: datetime
    object_key: str
    sha256: str
    tagmanifest_sha256: str
    size: int
    plan_version: int | None
    key_fingerprint: str
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    withdraw_reason: str | None

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None

    @classmethod
    def of(cls, row: ExportRow) -> ExportRecord:
        return cls(
            id=row.id,
            recording_id=row.recording_id,
            case_no=row.case_no,
            purpose=row.purpose,
            recipient=row.recipient,
            exported_by=row.exported_by,
            exported_at=row.exported_at,
            object_key=row.object_key,
            sha256=row.sha256,
            tagmanifest_sha256=row.tagmanifest_sha256,
            size=row.size,
            plan_version=row.plan_version,
            key_fingerprint=row.key_fingerprint,
            withdrawn_at=row.withdrawn_at,
            withdrawn_by=row.withdrawn_by,
            withdraw_reason=row.withdraw_reason,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "recording_id": self.recording_id,
            "case_no": self.case_no,
            "purpose": self.purpose,
            "recipient": self.recipient,
            "exported_by": self.exported_by,
            "exported_at": iso_utc(self.exported_at),
            "object_key": self.object_key,
            "sha256": self.sha256,
            "tagmanifest_sha256": self.tagmanifest_sha256,
            "size": self.size,
            "plan_version": self.plan_version,
            "key_fingerprint": self.key_fingerprint,
            "withdrawn": self.withdrawn,
            "withdrawn_at": None if self.withdrawn_at is None else iso_utc(self.withdrawn_at),
            "withdrawn_by": self.withdrawn_by,
            "withdraw_reason": self.withdraw_reason,
        }


def export_object_key(export_id: str) -> str:
    return f"{EXPORTS_PREFIX}{uuid.UUID(export_id)}.zip"


def store_package(store: ObjectStore, info: PackageInfo) -> str:
    """Put the zip write-once at `exports/<export id>.zip`; returns the key.

    Call it before the transaction that records the export (an upload is slow; a
    transaction should not wait on it). Storing the same bytes again is a no-op; other
    bytes under the same key are refused.
    """
    key = export_object_key(info.export_id)
    try:
        with info.path.open("rb") as handle:
            put = store.put(key, handle, worm=True, content_type="application/zip")
    except ObjectExists:
        digests, size = store.read_digests(key)
        if digests.get("sha256") != info.sha256 or size != info.size:
            raise ExportError(f"{key} already holds another package") from None
        return key
    if put.digests.get("sha256", info.sha256) != info.sha256 or put.size != info.size:
        raise ExportError(f"{key}: the stored zip differs from {info.path} (changed meanwhile?)")
    return key


def record_export(
    session: Session,
    ledger: Ledger,
    info: PackageInfo,
    contents: PackageContents,
    plan_version: int | None,
    *,
    object_key: str | None = None,
) -> ExportRecord:
    """Record a package and ledger `disclosure.exported`, in the caller's transaction.

    `object_key` is where `store_package` put the zip; without it the zip is stored here,
    in the ledger's object store (inside the transaction: fine for a local folder, slow
    for a large upload).
    """
    if info.export_id != contents.export_id:
        raise ExportError(f"package {info.export_id} is not export {contents.export_id}")
    if session.get(ExportRow, contents.export_id) is not None:
        raise ExportError(f"export {contents.export_id} is already recorded")
    if object_key is None:
        object_key = store_package(ledger.store, info)
    event = ledger.append(
        session,
        actor=contents.exported_by,
        action=ACTION_EXPORTED,
        subject=contents.recording_id,
        details={
            "export_id": contents.export_id,
            "case_no": contents.case_no,
            "purpose": contents.purpose,
            "recipient": contents.recipient,
            "object_key": object_key,
            "sha256": info.sha256,
            "tagmanifest_sha256": info.tagmanifest_sha256,
            "size": info.size,
            "plan_version": plan_version,
            "key_fingerprint": info.key_fingerprint,
            "media": [name for name, _ in contents.media],
            "transcripts": sorted(contents.texts),
        },
    )
    row = ExportRow(
        id=contents.export_id,
        recording_id=contents.recording_id,
        case_no=contents.case_no,
        purpose=contents.purpose,
        recipient=contents.recipient,
        exported_by=contents.exported_by,
        exported_at=contents.exported_at.astimezone(UTC),
        object_key=object_key,
        sha256=info.sha256,
        tagmanifest_sha256=info.tagmanifest_sha256,
        size=info.size,
        plan_version=plan_version,
        key_fingerprint=info.key_fingerprint,
        ledger_seq=event.seq,
    )
    session.add(row)
    session.flush()
    return ExportRecord.of(row)


def withdraw(
    session: Session, ledger: Ledger, export_id: str, actor: str, reason: str
) -> ExportRecord:
    """Mark an export withdrawn and ledger `disclosure.withdrawn`; refuses an unknown or
    already withdrawn export and an empty reason."""
    reason = reason.strip()
    if not reason:
        raise ExportError("a withdrawal needs a reason")
    row = session.scalars(
        select(ExportRow).where(ExportRow.id == export_id).with_for_update()
    ).first()
    if row is None:
        raise ExportError(f"no export {export_id}")
    if row.withdrawn_at is not None:
        raise ExportError(
            f"export {export_id} was already withdrawn at {iso_utc(row.withdrawn_at)} "
            f"by {row.withdrawn_by}"
        )
    row.withdrawn_at = datetime.now(UTC)
    row.withdrawn_by = actor
    row.withdraw_reason = reason
    ledger.append(
        session,
        actor=actor,
        action=ACTION_WITHDRAWN,
        subject=row.recording_id,
        details={"export_id": export_id, "sha256": row.sha256, "reason": reason},
    )
    session.flush()
    return ExportRecord.of(row)


def get_export(session: Session, export_id: str) -> ExportRecord | None:
    row = session.get(ExportRow, export_id)
    return None if row is None else ExportRecord.of(row)


def list_exports(session: Session, recording_id: str | None = None) -> list[ExportRecord]:
    """Every export (of one recording when given), oldest first."""
    query = select(ExportRow).order_by(ExportRow.exported_at, ExportRow.id)
    if recording_id is not None:
        query = query.where(ExportRow.recording_id == recording_id)
    return [ExportRecord.of(row) for row in session.scalars(query)]


def write_revocations(session: Session, key: SigningKey, out: Path) -> RevocationList:
    """Write the signed list of every withdrawn export to `out` (replaced atomically)."""
    rows = session.scalars(
        select(ExportRow).where(ExportRow.withdrawn_at.is_not(None)).order_by(ExportRow.id)
    )
    entries = tuple(
        Revocation(
            export_id=row.id,
            recording_id=row.recording_id,
            withdrawn_at=iso_utc(row.withdrawn_at) if row.withdrawn_at else "",
            reason=row.withdraw_reason or "",
            sha256=row.sha256,
        )
        for row in rows
    )
    issued = datetime.now(UTC)
    data = sign_revocations(entries, key, issued)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{uuid.uuid4().hex}.partial")
    try:
        with partial.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return RevocationList(iso_utc(issued), key.fingerprint, entries)
