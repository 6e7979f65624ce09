"""Creating jobs for recordings and sending their messages (ids only, never bytes).

Nothing here waits for the end of a long loop. An ingest creates a recording's jobs in
the transaction that records the recording (`JobPlanner.plan`) and sends their messages
once that transaction has committed (`JobPlanner.send`), so a kill at any moment leaves
every recorded recording with its jobs; at worst some jobs' messages never went out.
`sweep`, run when workers, `custos jobs` or an ingest start, mends both halves: it
creates the jobs of recordings that have none (ingested with `--no-process`, or by a
version that queued jobs only at the end of an ingest) and sends the jobs whose message
was never sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dramatiq
import dramatiq.errors
from redis.exceptions import RedisError
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from storage.db.schema import Job, Recording
from storage.services import Services
from workers import jobs
from workers.broker import ensure_safe
from workers.errors import BrokerConfigError
from workers.stages import PROCESSED_STATUSES, STAGES, Stage

# What may go wrong handing a message to the broker; the job row stays and is resent.
SEND_ERRORS = (BrokerConfigError, RedisError, dramatiq.errors.DramatiqError, OSError)
_BATCH = 500


@dataclass(frozen=True)
class Planned:
    """A job created by this process whose message is still to be sent."""

    job_id: str
    stage: str
    duration_s: float | None


@dataclass(frozen=True)
class SweepResult:
    created: int  # jobs made for recordings that had none
    sent: int  # messages sent for jobs that had never been sent


def _broker() -> dramatiq.Broker:
    import workers.actors  # noqa: F401 - declares the actors on the broker

    active = dramatiq.get_broker()
    ensure_safe(active)  # refuse a Redis that could evict the message we are about to send
    return active


def _actor(stage: str) -> dramatiq.Actor:  # type: ignore[type-arg]
    return _broker().get_actor(stage)


def send_planned(svc: Services, planned: list[Planned]) -> int:
    """Send these jobs' messages and record that they went; returns how many did."""
    sent: list[str] = []
    try:
        for item in planned:
            _actor(item.stage).send_with_options(
                args=(item.job_id,), time_limit=STAGES[item.stage].time_limit_ms(item.duration_s)
            )
            sent.append(item.job_id)
    finally:
        jobs.mark_sent(svc, sent)
    return len(sent)


def _stages(names: tuple[str, ...]) -> list[Stage]:
    unknown = [name for name in names if name not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; stages: {', '.join(STAGES)}")
    return [STAGES[name] for name in names]


class JobPlanner:
    """Creates a recording's jobs inside the transaction that records it, sends them after.

    Built before an ingest reads its first byte: every stage's parameters are worked out
    (a bad setting fails here, not after the files are stored) and the broker is asked
    once. A broker that cannot take messages does not stop the ingest: the job rows are
    written all the same, `unsent_reason` says why their messages were not sent, and the
    next sweep (`custos worker`, `custos jobs`) sends them.
    """

    def __init__(
        self, svc: Services, stages: tuple[str, ...] | None = None, *, send: bool = True
    ) -> None:
        self.svc = svc
        names = tuple(svc.settings.pipeline_stages) if stages is None else stages
        self.stages = _stages(names)
        self.params: dict[str, dict[str, Any]] = {
            stage.name: stage.default_params(svc) for stage in self.stages
        }
        self.unsent_reason: str | None = None if send else "sending was not asked for"
        self.unsent = 0  # jobs created whose message was not sent
        self._planned: dict[str, Planned] = {}
        if send and self.stages:
            try:
                _broker()
            except SEND_ERRORS as exc:
                self.unsent_reason = str(exc)  # BrokerConfigError says what to fix

    def plan(self, session: Session, recording: Recording) -> list[str]:
        """Create the missing jobs of `recording` in `session`; returns the new job ids."""
        created: list[str] = []
        for stage in self.stages:
            if not stage.applies_to(recording):
                continue
            job, new = jobs.ensure_job(
                session, recording, stage.name, stage.queue, self.params[stage.name]
            )
            if new:
                self._planned[job.id] = Planned(job.id, stage.name, recording.duration_s)
                created.append(job.id)
        return created

    def send(self, job_ids: list[str]) -> None:
        """After the commit that created `job_ids`: send their messages."""
        planned = [self._planned.pop(i) for i in job_ids if i in self._planned]
        if not planned:
            return
        if self.unsent_reason is not None:
            self.unsent += len(planned)
            return
        try:
            send_planned(self.svc, planned)
        except SEND_ERRORS as exc:
            # Those sent before the failure are marked sent; the next sweep sends the rest.
            self.unsent_reason = f"{type(exc).__name__}: {exc}"
            self.unsent += len(planned)


def enqueue_pipeline(
    svc: Services, recording_ids: list[str], stages: tuple[str, ...] | None = None
) -> list[Job]:
    """Create (or find) each applicable stage's job for these recordings and queue new ones."""
    planner = JobPlanner(svc, stages, send=False)
    if not planner.stages:
        return []

    def work(session: Session) -> list[Job]:
        created: list[Job] = []
        for rec in session.scalars(select(Recording).where(Recording.id.in_(recording_ids))):
            for job_id in planner.plan(session, rec):
                job = session.get(Job, job_id)
                assert job is not None
                created.append(job)
        return created

    created = svc.db.run(work)
    send_planned(svc, [planner._planned.pop(job.id) for job in created])
    return created


def _missing(svc: Services, stages: list[Stage]) -> dict[str, list[str]]:
    """Per stage, the recordings it applies to that have no job for it at all."""
    found: dict[str, list[str]] = {}
    with svc.db.session() as session:
        for stage in stages:
            has_job = exists().where(
                Job.recording_id == Recording.id,
                Job.stage == stage.name,
                Job.input_digest == Recording.sha256,
            )
            ids = list(
                session.scalars(
                    select(Recording.id).where(
                        Recording.status.in_(PROCESSED_STATUSES),
                        Recording.media_kind.in_(stage.media_kinds),
                        Recording.disposed_at.is_(None),
                        ~has_job,
                    )
                )
            )
            if ids:
                found[stage.name] = ids
    return found


def create_missing_jobs(svc: Services, stages: tuple[str, ...] | None = None) -> list[Planned]:
    """Jobs for every recording that a configured stage applies to and that has none.

    Any job of the stage for the recording's bytes counts, whatever its parameters: a
    changed setting does not reprocess what was processed (`custos reprocess` does).
    The stage modules are loaded only when something is missing.
    """
    names = tuple(svc.settings.pipeline_stages) if stages is None else stages
    missing = _missing(svc, _stages(names))
    if not missing:
        return []
    planner = JobPlanner(svc, tuple(missing), send=False)
    ids = sorted({rec_id for rec_ids in missing.values() for rec_id in rec_ids})
    created: list[str] = []
    for start in range(0, len(ids), _BATCH):
        batch = ids[start : start + _BATCH]

        def work(session: Session, batch: list[str] = batch) -> list[str]:
            made: list[str] = []
            for rec in session.scalars(select(Recording).where(Recording.id.in_(batch))):
                made += planner.plan(session, rec)
            return made

        created += svc.db.run(work)
    return [planner._planned[job_id] for job_id in created]


def sweep(svc: Services, *, send: bool = True) -> SweepResult:
    """Start-up repair: jobs for recordings without them, messages for jobs never sent."""
    created = create_missing_jobs(svc)
    if not send:
        return SweepResult(len(created), 0)
    with svc.db.session() as session:
        rows = session.execute(
            select(Job.id, Job.stage, Recording.duration_s)
            .join(Recording)
            .where(Job.status == jobs.QUEUED, Job.sent_at.is_(None))
            .order_by(Job.created_at)
        ).all()
    return SweepResult(
        len(created), send_planned(svc, [Planned(i, stage, d) for i, stage, d in rows])
    )


def requeue_unfinished(svc: Services) -> int:
    """Send every unfinished job again (embedded start-up, or after a queue was lost).

    Safe to over-send: a job that is done or held by a live worker ignores the message.
    """
    jobs.release_dead_local(svc)
    with svc.db.session() as session:
        rows = session.execute(
            select(Job.id, Job.stage, Recording.duration_s)
            .join(Recording)
            .where(Job.status.in_(jobs.UNFINISHED))
        ).all()
    return send_planned(svc, [Planned(i, stage, d) for i, stage, d in rows])


def reprocess(svc: Services, recording_id: str, stage_name: str) -> Job:
    """Run a stage again for a recording (its job is reset, or created if it never existed)."""
    if stage_name not in STAGES:
        raise ValueError(f"unknown stage {stage_name!r}; stages: {', '.join(STAGES)}")
    stage = STAGES[stage_name]
    params = stage.default_params(svc)

    def work(session: Session) -> tuple[Job, float | None]:
        rec = session.get(Recording, recording_id)
        if rec is None:
            raise LookupError(f"no recording {recording_id}")
        if not stage.applies_to(rec):
            raise ValueError(
                f"stage {stage_name} does not apply to a {rec.media_kind} "
                f"recording with status {rec.status}"
            )
        job, _ = jobs.ensure_job(session, rec, stage.name, stage.queue, params)
        svc.ledger.append(
            session,
            actor=svc.actor,
            action="reprocess_requested",
            subject=rec.id,
            details={"stage": stage_name, "job": job.id},
        )
        return job, rec.duration_s

    job, duration = svc.db.run(work)
    jobs.reset(svc, job.id)
    send_planned(svc, [Planned(job.id, job.stage, duration)])
    return job
