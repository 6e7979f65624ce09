"""The transcribe actor: a thin wrapper over the pure stage function (queue `gpu`)."""

from __future__ import annotations

import dramatiq

from storage.config import get_settings
from workers import broker as _broker  # noqa: F401 - the broker must exist before the actor
from workers.errors import PermanentError
from workers.runner import execute


@dramatiq.actor(
    queue_name="gpu",
    max_retries=get_settings().job_max_retries,
    min_backoff=2_000,
    max_backoff=300_000,
    throws=(PermanentError,),
)
def transcribe(job_id: str) -> None:
    execute("transcribe", job_id)
