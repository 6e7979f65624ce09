"""The HTTP application: `create_app(services)` wires routes, errors and metrics.

The app receives its `Services` (tests pass their own); routes are in api/routes/, one
module per resource, thin over api/services/.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match

from api import problems
from api.metrics import Metrics
from api.routes import (
    audit,
    auth,
    cases,
    disclosure,
    health,
    job_events,
    jobs,
    recordings,
    search,
    stats,
    tracks,
    uploads,
    users,
    web,
    web_review,
    web_upload,
)
from api.services.uploads import Uploads
from api.services.users import LoginThrottle
from storage.services import Services

log = logging.getLogger("custos.api")


def _route_template(request: Request) -> str:
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.FULL:
            return str(getattr(route, "path", request.url.path))
    return "unmatched"


def create_app(
    services: Services,
    *,
    throttle: LoginThrottle | None = None,
    resume_uploads: bool = True,
) -> FastAPI:
    """The Custos HTTP API over `services`."""
    up = Uploads.for_services(services)
    metrics = Metrics(services)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if resume_uploads:
            thread = threading.Thread(
                target=up.resume, args=(services,), name="custos-upload-resume", daemon=True
            )
            thread.start()
        yield

    app = FastAPI(
        title="Custos",
        version="0.1.0",
        description="Custody, processing and disclosure of enforcement audio/video records.",
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.uploads = up
    app.state.throttle = throttle or LoginThrottle()
    app.state.metrics = metrics
    problems.install(app)

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            metrics.latency.labels(
                method=request.method, route=_route_template(request), status=str(status)
            ).observe(time.perf_counter() - started)

    for module in (
        health,
        auth,
        cases,
        recordings,
        tracks,
        disclosure,
        jobs,
        search,
        stats,
        users,
        audit,
        uploads,
        job_events,
        web_upload,
        web_review,
        web,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=str(web.WEB_DIR / "static")), name="static")
    return app
