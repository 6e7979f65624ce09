"""Storing stage outputs: idempotent put, a Derivative row, and a ledger event.

An output is trusted only through its Derivative row: reuse (`verified_derivative`) reads
the object and checks it against the digest the row recorded. An object found at the
deterministic key without a row (an attempt died between writing and recording it, or
someone put it there) is adopted only if it holds exactly the bytes this attempt made;
otherwise this attempt's output is stored beside it under a digest-suffixed key and the
stray object is named in the ledger event.
"""

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

_READ = 4 * 1024 * 1024


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
    stray: str | None = None
    handle = source.open("rb") if isinstance(source, Path) else source
    try:
        start = handle.tell()
        try:
            put = svc.store.put(key, handle, content_type=content_type)
            sha256, size = put.digests["sha256"], put.size
        except ObjectExists:
            # No row, but an object: adopt it only if it is what this attempt made.
            with svc.store.open(key) as stored:
                found = _digest(stored)
            handle.seek(start)
            made = _digest(handle)
            sha256, size = found
            if found != made:
                stray, key = key, f"{key}.v-{made[0][:16]}"
                handle.seek(start)
                try:
                    put = svc.store.put(key, handle, content_type=content_type)
                    sha256, size = put.digests["sha256"], put.size
                except ObjectExists:
                    with svc.store.open(key) as stored:
                        sha256, size = _digest(stored)
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
                **({"unverified_object_left": stray} if stray else {}),
            },
        )
        return row

    return svc.db.run(record)


def _digest(handle: BinaryIO) -> tuple[str, int]:
    hasher = MultiHasher(("sha256",))
    while chunk := handle.read(_READ):
        hasher.update(chunk)
    return hasher.hexdigests()["sha256"], hasher.size


def verified_derivative(svc: Services, recording_id: str, key: str) -> tuple[str, bytes] | None:
    """(key, bytes) of the recording's derivative stored at `key` (or its digest-suffixed
    sibling), only when a Derivative row records it and the bytes match that row's digest."""
    import hashlib

    with svc.db.session() as session:
        rows = list(session.scalars(
            select(Derivative).where(
                Derivative.recording_id == recording_id,
                (Derivative.object_key == key) | Derivative.object_key.startswith(f"{key}.v-"),
            ).order_by(Derivative.id)
        ))  # fmt: skip
    for row in reversed(rows):
        if not svc.store.exists(row.object_key):
            continue
        body = svc.store.get_bytes(row.object_key)
        if len(body) == row.size and hashlib.sha256(body).hexdigest() == row.sha256:
            return row.object_key, body
    return None


def derivatives_of(svc: Services, recording_id: str, kind: str | None = None) -> list[Derivative]:
    with svc.db.session() as session:
        query = select(Derivative).where(Derivative.recording_id == recording_id)
        if kind is not None:
            query = query.where(Derivative.kind == kind)
        return list(session.scalars(query.order_by(Derivative.id)))
