"""Embedded mode: Dramatiq workers as threads of the `custos` process, on the stub broker."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import dramatiq
from dramatiq.brokers.stub import StubBroker

from storage.services import Services
from workers import jobs
from workers.pipeline import requeue_unfinished
from workers.runner import install_services

_WORKER_LOGGERS = ("dramatiq", "custos.workers")


def _log_to_file(path: Path) -> logging.Handler:
    """Worker tracebacks go to a log file, not over the live jobs table on the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in _WORKER_LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False
    return handler


class EmbeddedWorkers:
    """Start workers, resend unfinished jobs from the database, wait, stop."""

    def __init__(self, svc: Services, threads: int = 2) -> None:
        import workers.actors  # noqa: F401 - declares the actors

        broker = dramatiq.get_broker()
        if not isinstance(broker, StubBroker):
            raise RuntimeError("embedded workers need the embedded broker (CUSTOS_REDIS_URL unset)")
        self.svc = svc
        self.broker = broker
        install_services(svc)
        self.worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=200)
        self._log_handler = _log_to_file(svc.settings.data_dir / "logs" / "workers.log")

    def __enter__(self) -> EmbeddedWorkers:
        self.broker.emit_after("process_boot")
        # Messages sent before the workers existed are dropped: the jobs table is the
        # truth, and requeue_unfinished sends each unfinished job exactly once.
        self.broker.flush_all()
        self.worker.start()
        requeue_unfinished(self.svc)
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()
        install_services(None)
        for name in _WORKER_LOGGERS:
            logging.getLogger(name).removeHandler(self._log_handler)
        self._log_handler.close()


def wait_for_jobs(
    svc: Services,
    on_tick: Callable[[], None] | None = None,
    poll_s: float = 0.5,
    timeout_s: float | None = None,
) -> bool:
    """Block until no job is queued, running or retrying; False on timeout."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        if on_tick is not None:
            on_tick()
        if not jobs.list_jobs(svc, jobs.UNFINISHED):
            return True
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(poll_s)
