"""Storing stage outputs: idempotent put, a Derivative row, and a ledger event."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db.schema import Derivative, Recording
from storage.errors import ObjectExists
from storage.objects.hashing import MultiHasher, derived_key
from storage.services import Services


def store_derivative(
    svc: Services,
    recording: Recording,
    *,
    stage: str,
    params_hash: str,
    kind: str,
    name: str,
    source: Path | BinaryIO,
    job_id: str | None = None,
    content_type: str = "application/octet-stream",
) -> Derivative:
    """Store one output of `stage` for `recording` at its deterministic key.

    A repeated or redelivered job finds the object and the row already there and
    returns them without writing or ledgering anything twice.
    """
    key = derived_key(recording.sha256, stage, params_hash, name)
    with svc.db.session() as session:
        existing = session.scalar(
            select(Derivative).where(
                Derivative.recording_id == recording.id, Derivative.object_key == key
            )
        )
        if existing is not None:
            return existing
    handle = source.open("rb") if isinstance(source, Path) else source
    try:
        try:
            put = svc.store.put(key, handle, content_type=content_type)
            sha256, size = put.digests["sha256"], put.size
        except ObjectExists:
            # Written by an attempt that died before recording the row: hash what is stored.
            hasher = MultiHasher(("sha256",))
            with svc.store.open(key) as stored:
                while chunk := stored.read(4 * 1024 * 1024):
                    hasher.update(chunk)
            sha256, size = hasher.hexdigests()["sha256"], hasher.size
    finally:
        if isinstance(source, Path):
            handle.close()

    def record(session: Session) -> Derivative:
        again = session.scalar(
            select(Derivative).where(
                Derivative.recording_id == recording.id, Derivative.object_key == key
            )
        )
        if again is not None:
            return again
        row = Derivative(
            recording_id=recording.id,
            job_id=job_id,
            kind=kind,
            object_key=key,
            sha256=sha256,
            size=size,
            source_sha256=recording.sha256,
            created_at=datetime.now(UTC),
        )
        session.add(row)
        svc.ledger.append(
            session,
            actor=svc.actor,
            action="derived",
            subject=recording.id,
            details={
                "stage": stage,
                "kind": kind,
                "key": key,
                "sha256": sha256,
                "size": size,
                "source_sha256": recording.sha256,
                "params_hash": params_hash,
            },
        )
        return row

    return svc.db.run(record)


def derivatives_of(svc: Services, recording_id: str, kind: str | None = None) -> list[Derivative]:
    with svc.db.session() as session:
        query = select(Derivative).where(Derivative.recording_id == recording_id)
        if kind is not None:
            query = query.where(Derivative.kind == kind)
        return list(session.scalars(query.order_by(Derivative.id)))
