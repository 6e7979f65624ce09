"""Job state in the database: one row per (recording, stage, input digest, parameters).

Transitions are compare-and-set UPDATEs, so two workers that receive the same message
(a redelivery after a presumed death) cannot both run it: the second one finds the
job done, or held by a live worker, or takes it over once the holder's heartbeat
has gone stale.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db.schema import Job, Recording
from storage.objects.hashing import params_digest
from storage.services import Services

QUEUED, RUNNING, RETRYING, DONE, FAILED = "queued", "running", "retrying", "done", "failed"
UNFINISHED = (QUEUED, RUNNING, RETRYING)


class Claim(enum.Enum):
    CLAIMED = "claimed"
    DONE = "done"
    FAILED = "failed"
    BUSY = "busy"
    MISSING = "missing"


@dataclass(frozen=True)
class JobView:
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

    @property
    def seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or datetime.now(UTC)
        return (end - self.started_at).total_seconds()


def now() -> datetime:
    return datetime.now(UTC)


def ensure_job(
    session: Session, recording: Recording, stage: str, queue: str, params: dict[str, Any]
) -> tuple[Job, bool]:
    """The job for these inputs, created if new. Returns (job, created).

    Safe inside a larger transaction (an ingest's): a job that a concurrent sweep
    created first is found, and the caller's transaction goes on.
    """
    phash = params_digest(params)
    query = select(Job).where(
        Job.recording_id == recording.id,
        Job.stage == stage,
        Job.input_digest == recording.sha256,
        Job.params_hash == phash,
    )
    job = session.scalar(query)
    if job is not None:
        return job, False
    job = Job(
        id=str(uuid.uuid4()),
        recording_id=recording.id,
        stage=stage,
        queue=queue,
        input_digest=recording.sha256,
        params_hash=phash,
        params=params,
        status=QUEUED,
        attempts=0,
        progress=0.0,
        created_at=now(),
        outputs={},
    )
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:
        found = session.scalar(query)
        if found is None:
            raise
        return found, False
    return job, True


def mark_sent(svc: Services, job_ids: list[str]) -> None:
    """Record that these jobs' messages went to the broker."""
    if job_ids:
        svc.db.run(
            lambda s: s.execute(update(Job).where(Job.id.in_(job_ids)).values(sent_at=now()))
        )


def unsent(svc: Services) -> list[str]:
    """Queued jobs whose message never went out (the sender died after the commit)."""
    with svc.db.session() as session:
        return list(
            session.scalars(select(Job.id).where(Job.status == QUEUED, Job.sent_at.is_(None)))
        )


def claim(svc: Services, job_id: str, worker: str) -> Claim:
    return take(svc, job_id, worker)[0]


def take(svc: Services, job_id: str, worker: str) -> tuple[Claim, Job | None]:
    """Claim the job and, when claimed, return its row from the same statement.

    UPDATE ... RETURNING hands the runner the parameters it needs without a second
    transaction: one round trip fewer on every job, which is most of what a short job costs.
    """
    stale = now() - timedelta(seconds=2 * svc.settings.worker_heartbeat_s)

    def work(session: Session) -> tuple[Claim, Job | None]:
        claimed = session.scalars(
            update(Job)
            .where(
                Job.id == job_id,
                or_(
                    Job.status.in_((QUEUED, RETRYING)),
                    (Job.status == RUNNING) & (Job.heartbeat_at < stale),
                ),
            )
            .values(
                status=RUNNING,
                worker=worker,
                attempts=Job.attempts + 1,
                started_at=now(),
                heartbeat_at=now(),
                error=None,
            )
            .returning(Job)
            .execution_options(synchronize_session=False)
        ).first()
        if claimed is not None:
            return Claim.CLAIMED, claimed
        status = session.scalar(select(Job.status).where(Job.id == job_id))
        if status is None:
            return Claim.MISSING, None
        return {DONE: Claim.DONE, FAILED: Claim.FAILED}.get(status, Claim.BUSY), None

    return svc.db.run(work)


def heartbeat(svc: Services, job_id: str, worker: str, progress: float | None = None) -> bool:
    """Refresh the holder's heartbeat; False if the job was taken over meanwhile."""
    values: dict[str, Any] = {"heartbeat_at": now()}
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, progress))

    def work(session: Session) -> bool:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.worker == worker, Job.status == RUNNING)
            .values(**values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    return svc.db.run(work)


def finish(svc: Services, job_id: str, worker: str, outputs: dict[str, Any]) -> None:
    def work(session: Session) -> None:
        # One statement both guards (a job already done stays as it is) and fetches what
        # the ledger event names, instead of a SELECT and then an UPDATE.
        row = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status != DONE)
            .values(
                status=DONE,
                progress=1.0,
                outputs=outputs,
                finished_at=now(),
                worker=worker,
                error=None,
            )  # fmt: skip
            .returning(Job.recording_id, Job.stage, Job.input_digest, Job.params_hash)
            .execution_options(synchronize_session=False)
        ).first()
        if row is None:
            return
        svc.ledger.append(
            session,
            actor=svc.actor,
            action="stage_done",
            subject=row.recording_id,
            details={
                "job": job_id,
                "stage": row.stage,
                "worker": worker,
                "input_digest": row.input_digest,
                "params_hash": row.params_hash,
                "outputs": outputs,
            },
        )

    svc.db.run(work)


def fail(svc: Services, job_id: str, worker: str, error: str, *, final: bool) -> None:
    def work(session: Session) -> None:
        job = session.get(Job, job_id)
        if job is None or job.status == DONE:
            return
        job.status = FAILED if final else RETRYING
        job.error, job.worker = error[-4000:], worker
        job.finished_at = now() if final else None
        if final:
            svc.ledger.append(
                session,
                actor=svc.actor,
                action="stage_failed",
                subject=job.recording_id,
                details={
                    "job": job.id,
                    "stage": job.stage,
                    "error": error[-500:],
                    "attempts": job.attempts,
                },
            )

    svc.db.run(work)


def reset(svc: Services, job_id: str) -> None:
    """Queue a job again from scratch (reprocess)."""
    svc.db.run(
        lambda s: s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status=QUEUED,
                attempts=0,
                error=None,
                progress=0.0,
                worker=None,
                started_at=None,
                finished_at=None,
                heartbeat_at=None,
                sent_at=None,
            )
        )
    )


def get(svc: Services, job_id: str) -> Job | None:
    with svc.db.session() as session:
        return session.get(Job, job_id)


def list_jobs(
    svc: Services, statuses: tuple[str, ...] | None = None, recording_id: str | None = None
) -> list[JobView]:
    with svc.db.session() as session:
        query = select(Job, Recording.original_name).join(Recording)
        if statuses:
            query = query.where(Job.status.in_(statuses))
        if recording_id:
            query = query.where(Job.recording_id == recording_id)
        rows = session.execute(query.order_by(Job.created_at, Job.stage)).all()
    return [
        JobView(
            j.id,
            j.recording_id,
            name,
            j.stage,
            j.queue,
            j.status,
            j.attempts,
            j.progress,
            j.worker,
            j.error,
            j.created_at,
            j.started_at,
            j.finished_at,
        )
        for j, name in rows
    ]


def stale_or_unsent(svc: Services) -> list[Job]:
    """Unfinished jobs: what a restarted embedded process must enqueue again."""
    with svc.db.session() as session:
        return list(session.scalars(select(Job).where(Job.status.in_(UNFINISHED))))


def release_dead_local(svc: Services) -> int:
    """Jobs 'running' under a process of this host that no longer exists go back to the queue.

    Lets a restarted embedded process resume at once instead of waiting for the
    heartbeat to go stale.
    """
    import os
    import socket

    host = socket.gethostname()
    released = 0
    with svc.db.session() as session:
        running = list(session.scalars(select(Job).where(Job.status == RUNNING)))
        for job in running:
            parts = (job.worker or "").split(":")
            if len(parts) < 2 or parts[0] != host or not parts[1].isdigit():
                continue
            try:
                os.kill(int(parts[1]), 0)
                continue  # still alive
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            job.status = RETRYING
            job.error = f"worker {job.worker} died"
            released += 1
    return released
