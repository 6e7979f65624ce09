"""Request dependencies as `Annotated` aliases: the services, the caller, their services."""

from __future__ import annotations

import dataclasses
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Header, HTTPException, Query, Request
from fastapi.security import OAuth2PasswordBearer

from api.metrics import Metrics
from api.services.sessions import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    csrf_matches,
    session_user,
)
from api.services.uploads import Uploads
from api.services.users import LoginThrottle, User, user_for_token
from storage.services import Services

bearer = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def get_services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def get_uploads(request: Request) -> Uploads:
    uploads: Uploads = request.app.state.uploads
    return uploads


def get_throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.throttle
    return throttle


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


Svc = Annotated[Services, Depends(get_services)]
UploadsDep = Annotated[Uploads, Depends(get_uploads)]
Throttle = Annotated[LoginThrottle, Depends(get_throttle)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def current_user(request: Request, svc: Svc, token: Annotated[str | None, Depends(bearer)]) -> User:
    """The caller named by a live bearer token or web session cookie; 401 otherwise.

    A bearer token, when sent, decides alone. A request that relies on the session cookie
    and changes state must repeat the CSRF cookie in the `X-CSRF-Token` header (403).
    """
    if token:
        user = user_for_token(svc, token)
    else:
        user = session_user(svc, request.cookies.get(SESSION_COOKIE))
        if user is not None and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER)
            if not csrf_matches(request.cookies.get(CSRF_COOKIE), sent):
                raise HTTPException(403, "the CSRF token is missing or does not match")
    if user is None:
        raise HTTPException(
            status_code=401,
            detail="a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def user_services(svc: Svc, user: CurrentUser) -> Services:
    """The services with the caller as the actor of every ledger event they cause."""
    settings = svc.settings.model_copy(update={"actor": user.name})
    return dataclasses.replace(svc, settings=settings)


UserSvc = Annotated[Services, Depends(user_services)]


def viewing_reason(
    header: Annotated[str | None, Header(alias="X-Custos-Reason", max_length=500)] = None,
    query: Annotated[str | None, Query(alias="reason", max_length=500)] = None,
) -> str | None:
    """Why the caller views this (a case may require it): header, or query for <video src>."""
    # Headers are Latin-1 on the wire: a client sends other scripts percent-encoded.
    text = (unquote(header) if header else (query or "")).strip()
    return text or None


Reason = Annotated[str | None, Depends(viewing_reason)]
