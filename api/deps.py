"""Request dependencies as `Annotated` aliases: the services, the caller, their services."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer

from api.metrics import Metrics
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


def current_user(svc: Svc, token: Annotated[str | None, Depends(bearer)]) -> User:
    """The caller named by a live bearer token; 401 otherwise."""
    user = user_for_token(svc, token) if token else None
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
