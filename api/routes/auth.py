"""OAuth2 password flow: a bearer token for a user name and password; who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import CurrentUser, Svc, Throttle
from api.schemas import TokenOut, UserOut
from api.services.users import check_password, issue_token

router = APIRouter(prefix="/api", tags=["auth"])


@router.post("/auth/token", responses={401: {}, 429: {}})
def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    svc: Svc,
    throttle: Throttle,
) -> TokenOut:
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(form.username, address)
    if wait is not None:
        raise HTTPException(
            429, "too many failed logins; try again later", headers={"Retry-After": str(wait)}
        )
    user = check_password(svc, form.username, form.password)
    if user is None:
        throttle.failed(form.username, address)
        svc.ledger.record(
            actor=form.username[:128] or "anonymous",
            action="auth.failed",
            subject=form.username[:255] or "-",
            details={"address": address},
        )
        raise HTTPException(
            401, "wrong user name or password", headers={"WWW-Authenticate": "Bearer"}
        )
    throttle.succeeded(form.username, address)
    issued = issue_token(svc, user.name)
    return TokenOut(access_token=issued.access_token, expires_in=issued.expires_in)


@router.get("/users/me")
def me(user: CurrentUser) -> UserOut:
    return UserOut.of(user)
