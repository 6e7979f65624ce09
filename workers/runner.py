"""Runs one job: claim it, keep its heartbeat, call the pure stage function, record the end."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from functools import lru_cache
from typing import Any

from storage.errors import PermanentError
from storage.params import from_json
from storage.services import Services
from workers import jobs
from workers.errors import JobBusy
from workers.stages import STAGES

log = logging.getLogger("custos.workers")
_override: list[Services] = []


@lru_cache(maxsize=1)
def _process_services() -> Services:
    # Workers append to the ledger but never sign it: no key of their own, ever.
    return Services.open(create_key=False)


def services() -> Services:
    """This process's services (tests and the embedded mode may install their own)."""
    return _override[-1] if _override else _process_services()


def install_services(svc: Services | None) -> None:
    _override.clear()
    if svc is not None:
        _override.append(svc)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class _Heartbeat(threading.Thread):
    """Refreshes the job's heartbeat while the stage runs, however quiet the stage is."""

    def __init__(self, svc: Services, job_id: str, worker: str) -> None:
        super().__init__(name=f"heartbeat-{job_id[:8]}", daemon=True)
        self.svc, self.job_id, self.worker = svc, job_id, worker
        self.progress: float | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        interval = max(0.2, self.svc.settings.worker_heartbeat_s / 3)
        while not self._stop_event.wait(interval):
            try:
                jobs.heartbeat(self.svc, self.job_id, self.worker, self.progress)
            except Exception:  # noqa: BLE001 - a missed beat is retried on the next tick
                log.warning("heartbeat failed for job %s", self.job_id, exc_info=True)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def _is_last_attempt(svc: Services, job_id: str) -> bool:
    """The job row counts attempts across every message that ever carried it."""
    job = jobs.get(svc, job_id)
    return job is None or job.attempts > svc.settings.job_max_retries


def execute(stage_name: str, job_id: str) -> dict[str, Any] | None:
    svc = services()
    stage = STAGES[stage_name]
    me = worker_id()
    state, job = jobs.take(svc, job_id, me)
    if state in (jobs.Claim.DONE, jobs.Claim.FAILED, jobs.Claim.MISSING):
        log.info("job %s is %s; nothing to do", job_id, state.value)
        return None
    if state is jobs.Claim.BUSY:
        raise JobBusy(f"job {job_id} is held by a live worker")
    assert job is not None
    fn, params_cls = stage.load()
    params: Any = from_json(params_cls, job.params)
    beat = _Heartbeat(svc, job_id, me)
    beat.start()
    last_write = 0.0

    def progress(fraction: float) -> None:
        nonlocal last_write
        beat.progress = fraction
        if time.monotonic() - last_write > 1.0:
            last_write = time.monotonic()
            jobs.heartbeat(svc, job_id, me, fraction)

    started = time.monotonic()
    try:
        outputs = fn(svc, job.recording_id, params, progress)
    except PermanentError as exc:
        jobs.fail(svc, job_id, me, f"{type(exc).__name__}: {exc}", final=True)
        raise
    except BaseException as exc:
        jobs.fail(
            svc, job_id, me, f"{type(exc).__name__}: {exc}", final=_is_last_attempt(svc, job_id)
        )
        raise
    finally:
        beat.stop()
    outputs = {**outputs, "seconds": round(time.monotonic() - started, 3)}
    jobs.finish(svc, job_id, me, outputs)
    return outputs
