"""Placeholder until the pipeline lands: ingest queues nothing yet."""

from __future__ import annotations

from storage.services import Services


def enqueue_pipeline(svc: Services, recording_ids: list[str]) -> None:
    return None
