"""Errors mapped to problem responses (RFC 9457, application/problem+json) at the boundary."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.services.access import Forbidden, NotVisible, ReasonRequired
from api.services.media import NoSuchMedia, RangeNotSatisfiable
from api.services.transcripts import NoTranscript
from api.services.uploads import UploadError
from api.services.users import NoSuchUser, UserError
from cases.errors import NotFound
from storage.errors import ObjectNotFound

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("custos.api")


def problem(
    status: int,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, object] | None = None,
) -> JSONResponse:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Checksum Mismatch" if status == 460 else "Error"
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def install(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem(
            exc.status_code, detail, instance=request.url.path, headers=dict(exc.headers or {})
        )

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        return problem(422, "the request is not valid", instance=request.url.path,
                       extra={"errors": errors})  # fmt: skip

    def simple(status: int) -> object:
        async def handler(request: Request, exc: Exception) -> JSONResponse:
            return problem(status, str(exc), instance=request.url.path)

        return handler

    async def upload_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, UploadError)
        headers = {"Tus-Resumable": "1.0.0"}
        return problem(exc.status, str(exc), instance=request.url.path, headers=headers)

    async def unsatisfiable(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RangeNotSatisfiable)
        headers = {"Content-Range": f"bytes */{exc.size}", "Accept-Ranges": "bytes"}
        return problem(416, str(exc), instance=request.url.path, headers=headers)

    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal error; see the server log", instance=request.url.path)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    for exc_type, status in (
        (NotVisible, 404),
        (NoSuchUser, 404),
        (NoSuchMedia, 404),
        (NoTranscript, 404),
        (NotFound, 404),
        (ObjectNotFound, 404),
        (Forbidden, 403),
        (ReasonRequired, 428),
        (UserError, 400),
    ):
        app.add_exception_handler(exc_type, simple(status))  # type: ignore[arg-type]
    app.add_exception_handler(UploadError, upload_error)
    app.add_exception_handler(RangeNotSatisfiable, unsatisfiable)
    app.add_exception_handler(Exception, server_error)
