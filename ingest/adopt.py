"""Adopt an orphan original: stored bytes that no recording row names.

An ingest that died between publishing an object and committing its transaction (killed,
or its database gone mid-batch) leaves such an object; running the same ingest again
records it as usual. When that will not happen (the card is gone, the upload's client
never came back), `custos reconcile` adopts it here: probed and classified exactly as
acquisition would, recorded as a recording with no case and no capture details (marked
incomplete), its jobs planned like any new recording's, and ledgered as adopted, so the
evidence is accounted for and can be linked to its case afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ingest.acquire import CaptureMeta, Ingestor, _classify, _join
from storage.db.schema import Recording
from storage.objects import PutResult
from storage.services import Services

InTransaction = Callable[[Session, Recording], list[str]]
AfterCommit = Callable[[list[str]], None]
_HEAD = 64 * 1024


def adopt_original(
    svc: Services,
    key: str,
    digests: dict[str, str],
    size: int,
    *,
    in_transaction: InTransaction | None = None,
    after_commit: AfterCommit | None = None,
) -> str:
    """Record the object at `key` (already checked against its address); its id."""
    sha = digests["sha256"]
    with svc.db.session() as session:
        existing = session.scalar(select(Recording.id).where(Recording.sha256 == sha))
    if existing is not None:
        return existing  # recorded since the listing (a rerun of the ingest)
    with svc.store.open(key, 0, _HEAD) as handle:
        head = handle.read(_HEAD)
    put = PutResult(key, size, digests, created=False, first_chunk=head)
    name = Path(f"orphan-{sha[:16]}")  # no name survives; no suffix claims a format
    ingestor = Ingestor(svc, CaptureMeta())
    outcome = _classify(name, put, ingestor._probe(put))
    outcome.reason = _join(
        "adopted by custos reconcile: the object was stored but never recorded (an "
        "interrupted ingest); file name, case and capture details are unknown",
        outcome.reason,
    )
    rec = ingestor._new_recording(name, put, outcome)

    def work(session: Session) -> list[str]:
        session.add(rec)
        session.flush()
        svc.ledger.append(
            session,
            actor=svc.actor,
            action="orphan_adopted",
            subject=rec.id,
            details={
                "object_key": key,
                "sha256": sha,
                "sm3": digests.get("sm3"),
                "size": size,
                "status": rec.status,
                "media_kind": rec.media_kind,
            },
        )
        return in_transaction(session, rec) if in_transaction is not None else []

    try:
        job_ids = svc.db.run(work)
    except IntegrityError:
        with svc.db.session() as session:
            other = session.scalar(select(Recording.id).where(Recording.sha256 == sha))
        assert other is not None
        return other
    if after_commit is not None:
        after_commit(job_ids)
    return rec.id
