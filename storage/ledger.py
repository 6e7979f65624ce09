"""The custody ledger: append-only, hash-chained events with signed checkpoints.

Each event's hash covers the canonical JSON of (seq, ts, actor, action, subject,
details, prev_hash), so altering, removing or reordering any row breaks the chain
at that row. Checkpoints sign (seq, hash) with an Ed25519 key kept in the data
folder, so truncating the tail, or rewriting the whole chain, is caught too.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import Database
from storage.db.schema import LedgerCheckpoint, LedgerEvent
from storage.errors import LedgerError

GENESIS_HASH = "0" * 64
_PG_LOCK_ID = 0x437573746F73  # "Custos": serialises appends on PostgreSQL


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_hash(
    seq: int, ts: str, actor: str, action: str, subject: str, details: str, prev_hash: str
) -> str:
    body = canonical_json(
        {
            "seq": seq,
            "ts": ts,
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": json.loads(details),
            "prev_hash": prev_hash,
        }
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class SigningKey:
    """The Ed25519 key that signs checkpoints, created in the data folder on first use."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public: Ed25519PublicKey = private.public_key()
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    @classmethod
    def load_or_create(cls, folder: Path) -> SigningKey:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "ledger-ed25519.pem"
        if not path.exists():
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
            pub = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            (folder / "ledger-ed25519.pub.pem").write_bytes(pub)
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise LedgerError(f"{path} is not an Ed25519 private key")
        return cls(loaded)

    def sign(self, message: bytes) -> str:
        return self._private.sign(message).hex()

    def verify(self, message: bytes, signature_hex: str) -> bool:
        try:
            self.public.verify(bytes.fromhex(signature_hex), message)
        except (InvalidSignature, ValueError):
            return False
        return True


def _checkpoint_message(seq: int, hash_: str, ts: str) -> bytes:
    return canonical_json({"seq": seq, "hash": hash_, "ts": ts}).encode()


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    events: int
    checkpoints: int
    first_bad_seq: int | None = None
    problem: str | None = None


class Ledger:
    def __init__(self, db: Database, key: SigningKey | None = None) -> None:
        self.db = db
        self.key = key

    def append(
        self,
        session: Session,
        *,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, Any] | None = None,
    ) -> LedgerEvent:
        """Append one event inside the caller's transaction.

        The caller's transaction holds the write lock (SQLite BEGIN IMMEDIATE, an
        advisory lock on PostgreSQL), so the chain never forks; unique constraints on
        prev_hash and hash are the last line of defence.
        """
        if self.db.dialect == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_ID})
        last = session.execute(
            select(LedgerEvent.seq, LedgerEvent.hash).order_by(LedgerEvent.seq.desc()).limit(1)
        ).first()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        ts = utc_now_iso()
        body = canonical_json(details or {})
        event = LedgerEvent(
            seq=seq,
            ts=ts,
            actor=actor,
            action=action,
            subject=subject,
            details=body,
            prev_hash=prev,
            hash=event_hash(seq, ts, actor, action, subject, body, prev),
        )
        session.add(event)
        try:
            session.flush()
        except IntegrityError as exc:
            raise LedgerError(f"concurrent ledger append at seq {seq}") from exc
        return event

    def record(
        self, *, actor: str, action: str, subject: str, details: dict[str, Any] | None = None
    ) -> LedgerEvent:
        """Append one event in a transaction of its own."""
        return self.db.run(
            lambda s: self.append(s, actor=actor, action=action, subject=subject, details=details)
        )

    def checkpoint(self) -> LedgerCheckpoint | None:
        """Sign the current head; returns None if the ledger is empty."""
        if self.key is None:
            raise LedgerError("no signing key configured")
        key = self.key

        def work(session: Session) -> LedgerCheckpoint | None:
            head = session.execute(
                select(LedgerEvent.seq, LedgerEvent.hash).order_by(LedgerEvent.seq.desc()).limit(1)
            ).first()
            if head is None:
                return None
            ts = utc_now_iso()
            cp = LedgerCheckpoint(
                seq=head[0],
                hash=head[1],
                ts=ts,
                key_id=key.key_id,
                signature=key.sign(_checkpoint_message(head[0], head[1], ts)),
            )
            session.add(cp)
            return cp

        return self.db.run(work)

    def events(self, subject: str | None = None) -> list[LedgerEvent]:
        with self.db.session() as session:
            query = select(LedgerEvent).order_by(LedgerEvent.seq)
            if subject is not None:
                query = query.where(LedgerEvent.subject == subject)
            return list(session.scalars(query))

    def _iter_events(self, session: Session, batch: int = 5000) -> Iterator[LedgerEvent]:
        after = 0
        while True:
            rows = list(
                session.scalars(
                    select(LedgerEvent)
                    .where(LedgerEvent.seq > after)
                    .order_by(LedgerEvent.seq)
                    .limit(batch)
                )
            )
            if not rows:
                return
            yield from rows
            after = rows[-1].seq

    def verify(self) -> VerifyReport:
        """Walk the chain from genesis; name the first event that does not fit."""
        with self.db.sessions() as session:
            checkpoints = list(
                session.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.id))
            )
            wanted = {cp.seq for cp in checkpoints}
            expected_seq, prev = 1, GENESIS_HASH
            hashes: dict[int, str] = {}
            count = 0
            for ev in self._iter_events(session):
                count += 1
                if ev.seq != expected_seq:
                    return VerifyReport(
                        False,
                        count,
                        0,
                        expected_seq,
                        f"event {expected_seq} is missing (next present is {ev.seq})",
                    )
                if ev.prev_hash != prev:
                    return VerifyReport(
                        False,
                        count,
                        0,
                        ev.seq,
                        f"event {ev.seq} does not follow event {ev.seq - 1} (hash link broken)",
                    )
                try:
                    recomputed = event_hash(
                        ev.seq, ev.ts, ev.actor, ev.action, ev.subject, ev.details, ev.prev_hash
                    )
                except json.JSONDecodeError:
                    recomputed = ""
                if recomputed != ev.hash:
                    return VerifyReport(
                        False, count, 0, ev.seq, f"event {ev.seq} was altered (hash mismatch)"
                    )
                if ev.seq in wanted:
                    hashes[ev.seq] = ev.hash
                prev = ev.hash
                expected_seq += 1
            last_seq = expected_seq - 1
            for cp in checkpoints:
                if self.key is not None and not self.key.verify(
                    _checkpoint_message(cp.seq, cp.hash, cp.ts), cp.signature
                ):
                    return VerifyReport(
                        False,
                        count,
                        len(checkpoints),
                        cp.seq,
                        f"checkpoint at event {cp.seq} has a bad signature",
                    )
                if cp.seq > last_seq:
                    return VerifyReport(
                        False,
                        count,
                        len(checkpoints),
                        last_seq + 1,
                        f"events {last_seq + 1}..{cp.seq} were removed (a checkpoint covers them)",
                    )
                if hashes.get(cp.seq) != cp.hash:
                    return VerifyReport(
                        False,
                        count,
                        len(checkpoints),
                        cp.seq,
                        f"event {cp.seq} differs from its signed checkpoint",
                    )
            return VerifyReport(True, count, len(checkpoints))

    def count(self) -> int:
        with self.db.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(LedgerEvent)) or 0)
