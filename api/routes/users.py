"""Users, roles and case grants, for admins (as `custos user ...` manages them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Response

from api.deps import CurrentUser, UserSvc
from api.schemas import GrantIn, UserIn, UserOut
from api.services import access
from api.services import users as user_service

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("")
def list_users(svc: UserSvc, user: CurrentUser) -> list[UserOut]:
    access.require(user, "users.admin")
    return [UserOut.of(u) for u in user_service.list_users(svc)]


@router.post("", status_code=201, responses={400: {}, 422: {}})
def add_user(
    svc: UserSvc, user: CurrentUser, body: Annotated[UserIn | None, Body()] = None
) -> UserOut:
    """Add a user with a role and a password (hashed with argon2; ledgered)."""
    access.require(user, "users.admin")
    if body is None:
        raise HTTPException(422, "the request needs a JSON body with name, role and password")
    return UserOut.of(user_service.add_user(svc, body.name, body.role, body.password))


@router.post("/{name}/grants", responses={400: {}, 422: {}})
def grant(
    name: str, svc: UserSvc, user: CurrentUser, body: Annotated[GrantIn | None, Body()] = None
) -> UserOut:
    """Grant the user access to one case (ledgered)."""
    access.require(user, "users.admin")
    if body is None:
        raise HTTPException(422, "the request needs a JSON body with case_no")
    return UserOut.of(user_service.grant(svc, name, body.case_no))


@router.delete("/{name}/grants/{case_no}", responses={400: {}})
def revoke_grant(name: str, case_no: str, svc: UserSvc, user: CurrentUser) -> UserOut:
    """Withdraw the user's access to one case (ledgered)."""
    access.require(user, "users.admin")
    return UserOut.of(user_service.revoke(svc, name, case_no))


@router.post("/{name}/disable", status_code=204, responses={400: {}})
def disable(name: str, svc: UserSvc, user: CurrentUser) -> Response:
    """Disable the user and revoke every token and session they hold (ledgered)."""
    access.require(user, "users.admin")
    if name == user.name:
        raise HTTPException(400, "an admin cannot disable their own account")
    user_service.revoke(svc, name)
    return Response(status_code=204)
