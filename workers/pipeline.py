"""Creating jobs for new recordings and sending their messages (ids only, never bytes)."""

from __future__ import annotations

import dramatiq
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db.schema import Job, Recording
from storage.services import Services
from workers import jobs
from workers.broker import ensure_safe
from workers.stages import STAGES


def _actor(stage: str) -> dramatiq.Actor:  # type: ignore[type-arg]
    import workers.actors  # noqa: F401 - declares the actors on the broker

    active = dramatiq.get_broker()
    ensure_safe(active)  # refuse a Redis that could evict the message we are about to send
    return active.get_actor(stage)


def send(job: Job, duration_s: float | None) -> None:
    stage = STAGES[job.stage]
    _actor(job.stage).send_with_options(args=(job.id,), time_limit=stage.time_limit_ms(duration_s))


def enqueue_pipeline(
    svc: Services, recording_ids: list[str], stages: tuple[str, ...] | None = None
) -> list[Job]:
    """Create (or find) each applicable stage's job for these recordings and queue new ones."""
    names = stages or tuple(svc.settings.pipeline_stages)
    unknown = [name for name in names if name not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; stages: {', '.join(STAGES)}")
    wanted = [STAGES[name] for name in names]
    params = {stage.name: stage.default_params(svc) for stage in wanted}
    created: list[tuple[Job, float | None]] = []

    def work(session: Session) -> None:
        for rec in session.scalars(select(Recording).where(Recording.id.in_(recording_ids))):
            for stage in wanted:
                if not stage.applies_to(rec):
                    continue
                job, new = jobs.ensure_job(
                    session, rec, stage.name, stage.queue, params[stage.name]
                )
                if new:
                    created.append((job, rec.duration_s))

    svc.db.run(work)
    for job, duration in created:
        send(job, duration)
    return [job for job, _ in created]


def requeue_unfinished(svc: Services) -> int:
    """Send every unfinished job again (embedded start-up, or after a queue was lost).

    Safe to over-send: a job that is done or held by a live worker ignores the message.
    """
    jobs.release_dead_local(svc)
    with svc.db.session() as session:
        rows = session.execute(
            select(Job, Recording.duration_s).join(Recording).where(Job.status.in_(jobs.UNFINISHED))
        ).all()
    for job, duration in rows:
        send(job, duration)
    return len(rows)


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
    send(job, duration)
    return job
