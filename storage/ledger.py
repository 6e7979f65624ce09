"""The custody ledger: append-only, hash-chained events with signed checkpoints.

Each event's hash covers the canonical JSON of (seq, ts, actor, action, subject,
details, prev_hash), so altering, removing or reordering any row breaks the chain
at that row. A checkpoint signs (seq, hash, ts) of the head with an Ed25519 key
(storage/ledger_keys.py) and is kept twice: as a row in the database and as a
write-once object `ledger/checkpoints/<seq>.json` in the object store, a second trust
domain. Whoever holds the database can drop the triggers, delete the checkpoint rows
and recompute the whole chain from genesis, but cannot rewrite the checkpoint objects
(write-once, under retention) nor sign new ones without the key, so `verify` names
the first object the rewritten chain no longer matches.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import Database
from storage.db.schema import LedgerCheckpoint, LedgerEvent
from storage.errors import LedgerError, ObjectExists, StorageError
from storage.ledger_keys import LedgerKeys, PublicKey
from storage.objects import ObjectStore

GENESIS_HASH = "0" * 64
_PG_LOCK_ID = 0x437573746F73  # "Custos": serialises appends on PostgreSQL
CHECKPOINT_PREFIX = "ledger/checkpoints/"
CHECKPOINT_FORMAT = "custos-ledger-checkpoint/1"


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


def checkpoint_message(seq: int, hash_: str, ts: str) -> bytes:
    """The bytes a checkpoint signature covers."""
    return canonical_json({"seq": seq, "hash": hash_, "ts": ts}).encode()


def checkpoint_object_key(seq: int) -> str:
    """Where the checkpoint of the head at event `seq` is anchored in the object store."""
    return f"{CHECKPOINT_PREFIX}{seq:020d}.json"


def _fingerprint(public_hex: str) -> str:
    try:
        return hashlib.sha256(bytes.fromhex(public_hex)).hexdigest()
    except ValueError:
        return "?" * 64


@dataclass(frozen=True)
class LedgerHead:
    """A signed head of the chain, as printed on receipts and export packages."""

    seq: int
    hash: str
    signed_at: str
    object_key: str | None  # the checkpoint object; None while it is not anchored

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "signed_at": self.signed_at,
            "object_key": self.object_key,
        }

    @property
    def label(self) -> str:
        """One cell of text: `seq:hash:object key`."""
        return f"{self.seq}:{self.hash}:{self.object_key or 'not anchored'}"


@dataclass(frozen=True)
class Anchor:
    """A signed checkpoint as it is stored in the object store."""

    seq: int
    hash: str
    ts: str
    key_id: str
    public_key: str  # raw Ed25519 public key, hex
    signature: str

    @property
    def object_key(self) -> str:
        return checkpoint_object_key(self.seq)

    @property
    def message(self) -> bytes:
        return checkpoint_message(self.seq, self.hash, self.ts)

    def to_bytes(self) -> bytes:
        body = {
            "format": CHECKPOINT_FORMAT,
            "seq": self.seq,
            "hash": self.hash,
            "ts": self.ts,
            "key_id": self.key_id,
            "key_fingerprint": _fingerprint(self.public_key),
            "public_key": self.public_key,
            "signature": self.signature,
        }
        return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Anchor:
        body = json.loads(data)
        if not isinstance(body, dict) or body.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not a {CHECKPOINT_FORMAT} document")
        seq = body["seq"]
        if not isinstance(seq, int):
            raise ValueError("seq is not an integer")
        fields = {name: body[name] for name in ("hash", "ts", "key_id", "public_key", "signature")}
        if not all(isinstance(value, str) for value in fields.values()):
            raise ValueError("a field is not a string")
        return cls(seq=seq, **fields)

    def head(self) -> LedgerHead:
        return LedgerHead(self.seq, self.hash, self.ts, self.object_key)


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    events: int
    checkpoints: int
    first_bad_seq: int | None = None
    problem: str | None = None
    anchors: int = 0  # checkpoint objects in the object store, all checked
    unanchored: int = 0  # checkpoint rows with no object (made before anchoring existed)


class _Broken(Exception):
    def __init__(self, seq: int | None, problem: str) -> None:
        super().__init__(problem)
        self.seq = seq
        self.problem = problem


@dataclass
class _Progress:
    events: int = 0
    checkpoints: int = 0
    anchors: int = 0
    unanchored: int = 0
    hashes: dict[int, str] = field(default_factory=dict)


class Ledger:
    def __init__(self, db: Database, store: ObjectStore, keys: LedgerKeys) -> None:
        self.db = db
        self.store = store
        self.keys = keys

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
        self._lock(session)
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

    def _lock(self, session: Session) -> None:
        if self.db.dialect == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_ID})

    def record(
        self, *, actor: str, action: str, subject: str, details: dict[str, Any] | None = None
    ) -> LedgerEvent:
        """Append one event in a transaction of its own."""
        return self.db.run(
            lambda s: self.append(s, actor=actor, action=action, subject=subject, details=details)
        )

    # -- checkpoints -------------------------------------------------------------------
    def checkpoint(self) -> LedgerHead | None:
        """Sign the current head and anchor it in the object store; None if the ledger is empty.

        Raises LedgerError when no signing key can be loaded (nothing is ever left
        unsigned) and when the object cannot be written: the row is committed first, so
        calling again at the same head anchors that row instead of signing another.
        """
        signer = self.keys.require_signer()

        def sign(session: Session) -> Anchor | None:
            self._lock(session)
            head = session.execute(
                select(LedgerEvent.seq, LedgerEvent.hash).order_by(LedgerEvent.seq.desc()).limit(1)
            ).first()
            if head is None:
                return None
            seq, hash_ = int(head[0]), str(head[1])
            newest = session.scalars(
                select(LedgerCheckpoint).order_by(LedgerCheckpoint.id.desc()).limit(1)
            ).first()
            if newest is not None and (newest.seq, newest.hash) == (seq, hash_):
                again = Anchor(seq, hash_, newest.ts, newest.key_id, signer.hex, newest.signature)
                if signer.verify(again.message, again.signature):
                    return again  # already signed: (re)anchor it below
            ts = utc_now_iso()
            signature = signer.sign(checkpoint_message(seq, hash_, ts))
            session.add(
                LedgerCheckpoint(
                    seq=seq, hash=hash_, ts=ts, key_id=signer.key_id, signature=signature
                )
            )
            return Anchor(seq, hash_, ts, signer.key_id, signer.hex, signature)

        anchor = self.db.run(sign)
        if anchor is None:
            return None
        self._anchor(anchor)
        return anchor.head()

    def _anchor(self, anchor: Anchor) -> None:
        key = anchor.object_key
        try:
            if not self.store.exists(key):
                try:
                    self.store.put(
                        key,
                        io.BytesIO(anchor.to_bytes()),
                        worm=True,
                        content_type="application/json",
                    )
                    return
                except ObjectExists:
                    pass  # a concurrent checkpoint of the same head, or another chain's
            stored = Anchor.from_bytes(self.store.get_bytes(key))
        except StorageError as exc:
            raise LedgerError(
                f"checkpoint at event {anchor.seq} is signed but could not be anchored as "
                f"{key} in the object store ({exc}); run `custos ledger checkpoint` again"
            ) from exc
        except (ValueError, KeyError) as exc:
            raise LedgerError(f"checkpoint object {key} is unreadable: {exc}") from exc
        if (stored.seq, stored.hash) != (anchor.seq, anchor.hash):
            raise LedgerError(
                f"the ledger no longer matches checkpoint object {key} (event {anchor.seq} "
                "was signed with another hash); run `custos ledger verify`"
            )

    def head(self) -> LedgerHead | None:
        """The newest signed checkpoint: event seq, hash, when, and its object key."""
        with self.db.sessions() as session:
            row = session.scalars(
                select(LedgerCheckpoint).order_by(LedgerCheckpoint.id.desc()).limit(1)
            ).first()
            if row is None:
                return None
            seq, hash_, ts = row.seq, row.hash, row.ts
        key = checkpoint_object_key(seq)
        return LedgerHead(seq, hash_, ts, key if self.store.exists(key) else None)

    def is_empty(self) -> bool:
        """No event, no checkpoint row, no checkpoint object: a ledger never started."""
        with self.db.sessions() as session:
            if session.execute(select(LedgerEvent.seq).limit(1)).first() is not None:
                return False
            if session.execute(select(LedgerCheckpoint.id).limit(1)).first() is not None:
                return False
        return not self.has_anchors()

    def has_anchors(self) -> bool:
        """Whether any checkpoint object is in the object store."""
        return next(iter(self.store.list(CHECKPOINT_PREFIX)), None) is not None

    # -- reading -----------------------------------------------------------------------
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

    def count(self) -> int:
        with self.db.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(LedgerEvent)) or 0)

    # -- verification ------------------------------------------------------------------
    def verify(self) -> VerifyReport:
        """Walk the chain from genesis and check it against every signed checkpoint.

        Fails, naming the problem, when an event does not fit its predecessor, when a
        checkpoint object in the object store has no matching event or checkpoint row
        (or the chain's hash at its event differs), when a signature does not verify,
        when the checkpoints were signed by another key than the one configured, and
        when no key to verify with is available.
        """
        progress = _Progress()
        try:
            self._verify(progress)
        except _Broken as broken:
            return VerifyReport(
                False,
                progress.events,
                progress.checkpoints,
                broken.seq,
                broken.problem,
                progress.anchors,
                progress.unanchored,
            )
        return VerifyReport(
            True,
            progress.events,
            progress.checkpoints,
            anchors=progress.anchors,
            unanchored=progress.unanchored,
        )

    def _verifier(self) -> PublicKey:
        keys = self.keys
        if keys.verifier is None:
            raise _Broken(None, keys.problem or "no ledger key to verify with")
        if keys.signer is not None and keys.signer != keys.verifier:
            raise _Broken(None, keys.problem or "the signing key does not match the public key")
        return keys.verifier

    def _load_anchors(self, verifier: PublicKey) -> list[tuple[str, Anchor]]:
        anchors: list[tuple[str, Anchor]] = []
        try:
            keys = list(self.store.list(CHECKPOINT_PREFIX))
            for key in keys:
                try:
                    anchor = Anchor.from_bytes(self.store.get_bytes(key))
                except (ValueError, KeyError) as exc:
                    raise _Broken(None, f"checkpoint object {key} is unreadable: {exc}") from exc
                if anchor.object_key != key:
                    raise _Broken(
                        anchor.seq, f"checkpoint object {key} names event {anchor.seq} instead"
                    )
                anchors.append((key, anchor))
        except StorageError as exc:
            raise _Broken(None, f"checkpoint objects cannot be read: {exc}") from exc
        for key, anchor in anchors:
            if anchor.public_key.lower() != verifier.hex:
                signed_by = _fingerprint(anchor.public_key)[:16]
                raise _Broken(
                    anchor.seq,
                    f"ledger key changed: checkpoint object {key} was signed by key "
                    f"{signed_by}, the key in use is {verifier.key_id}",
                )
            if not verifier.verify(anchor.message, anchor.signature):
                raise _Broken(anchor.seq, f"checkpoint object {key} has a bad signature")
        return anchors

    def _walk(self, session: Session, wanted: set[int], progress: _Progress) -> int:
        """Check every link from genesis; returns the last seq, keeps hashes of `wanted`."""
        expected_seq, prev = 1, GENESIS_HASH
        for ev in self._iter_events(session):
            progress.events += 1
            if ev.seq != expected_seq:
                raise _Broken(
                    expected_seq, f"event {expected_seq} is missing (next present is {ev.seq})"
                )
            if ev.prev_hash != prev:
                raise _Broken(
                    ev.seq, f"event {ev.seq} does not follow event {ev.seq - 1} (hash link broken)"
                )
            try:
                recomputed = event_hash(
                    ev.seq, ev.ts, ev.actor, ev.action, ev.subject, ev.details, ev.prev_hash
                )
            except json.JSONDecodeError:
                recomputed = ""
            if recomputed != ev.hash:
                raise _Broken(ev.seq, f"event {ev.seq} was altered (hash mismatch)")
            if ev.seq in wanted:
                progress.hashes[ev.seq] = ev.hash
            prev = ev.hash
            expected_seq += 1
        return expected_seq - 1

    def _verify(self, progress: _Progress) -> None:
        verifier = self._verifier()
        anchors = self._load_anchors(verifier)
        progress.anchors = len(anchors)
        with self.db.sessions() as session:
            rows = list(session.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.id)))
            progress.checkpoints = len(rows)
            wanted = {cp.seq for cp in rows} | {a.seq for _, a in anchors}
            last_seq = self._walk(session, wanted, progress)
        signed_rows = {(cp.seq, cp.hash) for cp in rows}
        for key, anchor in anchors:
            if anchor.seq > last_seq:
                raise _Broken(
                    last_seq + 1,
                    f"events {last_seq + 1}..{anchor.seq} were removed "
                    f"(checkpoint object {key} covers them)",
                )
            if progress.hashes.get(anchor.seq) != anchor.hash:
                raise _Broken(
                    anchor.seq,
                    f"event {anchor.seq} differs from checkpoint object {key}: "
                    "the chain up to it was rewritten",
                )
        for key, anchor in anchors:  # the events match; were checkpoint rows removed?
            if (anchor.seq, anchor.hash) not in signed_rows:
                raise _Broken(
                    anchor.seq,
                    f"checkpoint object {key} has no matching checkpoint in the database "
                    "(checkpoint rows were removed)",
                )
        for cp in rows:
            if not verifier.verify(checkpoint_message(cp.seq, cp.hash, cp.ts), cp.signature):
                raise _Broken(cp.seq, f"checkpoint at event {cp.seq} has a bad signature")
            if cp.seq > last_seq:
                raise _Broken(
                    last_seq + 1,
                    f"events {last_seq + 1}..{cp.seq} were removed (a checkpoint covers them)",
                )
            if progress.hashes.get(cp.seq) != cp.hash:
                raise _Broken(cp.seq, f"event {cp.seq} differs from its signed checkpoint")
        anchored = {(a.seq, a.hash) for _, a in anchors}
        progress.unanchored = sum(1 for cp in rows if (cp.seq, cp.hash) not in anchored)
