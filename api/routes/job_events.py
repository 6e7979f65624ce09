"""Live job progress as server-sent events: `GET /api/jobs/events` (the jobs page's feed).

The stream sends the jobs of the recordings the caller may see (as `GET /api/jobs` lists
them) whenever they change, checked about once a second, with a heartbeat comment while
nothing changes so proxies keep the connection open. It is bounded: it ends after
`STREAM_SECONDS`, or at once after the first snapshot when no job is queued, running or
retrying (nothing is moving, so holding a connection and a poll loop open per page would
buy nothing). `retry:` tells the browser's EventSource when to reconnect, which it does by
itself; a reconnect starts with a fresh snapshot, so nothing is missed between streams.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, UserSvc
from api.schemas import JobOut
from api.services import access
from api.services.users import User
from storage.services import Services
from workers.jobs import UNFINISHED, list_jobs

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

STREAM_SECONDS = 60.0  # then the stream ends and the browser reconnects
TICK_SECONDS = 1.0  # how often the jobs are looked at
HEARTBEAT_SECONDS = 15.0  # a comment line when nothing changed for this long
RETRY_MS = 3000  # EventSource's reconnect delay after a stream ends
MAX_JOBS = 500  # the newest visible jobs; a page of thousands of bars helps nobody


def visible_jobs(svc: Services, user: User) -> list[JobOut]:
    """The newest `MAX_JOBS` jobs of the recordings the caller may see, oldest first."""
    views = list_jobs(svc)
    seen = access.seen_recordings(svc, user, {v.recording_id for v in views})
    return [JobOut.of(v) for v in views if v.recording_id in seen][-MAX_JOBS:]


def _event(jobs: list[JobOut]) -> tuple[str, str]:
    """The event, and what decides whether it changed: everything but a running job's
    `seconds`, which grows by itself (the page counts it from `started_at`)."""
    rows = [j.model_dump(mode="json") for j in jobs]
    key = json.dumps([{**r, "seconds": None} for r in rows])
    payload = json.dumps(rows, ensure_ascii=False)
    return f"event: jobs\ndata: {payload}\n\n", key  # JSON has no raw newline: one data line


async def _stream(request: Request, svc: Services, user: User, once: bool) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    started = time.monotonic()
    last_sent = started
    previous: str | None = None
    while True:
        jobs = await run_in_threadpool(visible_jobs, svc, user)
        event, key = _event(jobs)
        now = time.monotonic()
        if key != previous:
            yield event
            previous, last_sent = key, now
        elif now - last_sent >= HEARTBEAT_SECONDS:
            yield ": heartbeat\n\n"
            last_sent = now
        moving = any(j.status in UNFINISHED for j in jobs)
        if once or not moving or now - started >= STREAM_SECONDS:
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(TICK_SECONDS)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "an event stream"}},
)
async def job_events(
    request: Request,
    svc: UserSvc,
    user: CurrentUser,
    once: Annotated[bool, Query(description="one snapshot, then the stream ends")] = False,
) -> StreamingResponse:
    """Server-sent events: `event: jobs` with the caller's visible jobs (as `GET /api/jobs`)
    whenever they change; ends after a bounded time (see `retry:`) for the client to
    reconnect."""
    access.require(user, "case.read")
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        _stream(request, svc, user, once), media_type="text/event-stream", headers=headers
    )
