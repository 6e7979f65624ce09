"""The normalise actor: a thin wrapper over the pure stage function (queue `cpu`)."""

from __future__ import annotations

import dramatiq

from storage.config import get_settings
from workers import broker as _broker  # noqa: F401 - the broker must exist before the actor
from workers.errors import PermanentError
from workers.runner import execute


@dramatiq.actor(
    queue_name="cpu",
    max_retries=get_settings().job_max_retries,
    min_backoff=2_000,
    max_backoff=300_000,
    throws=(PermanentError,),
)
def normalise(job_id: str) -> None:
    execute("normalise", job_id)
