"""The web UI's upload page (drop files or a folder, sent over tus) and jobs page (live
progress over server-sent events).

Both are thin: the browser talks to the API (`/api/uploads/`, `/api/jobs/events`) with the
session cookie and the CSRF header; these routes only decide who gets the page and what
the forms offer. Like the other pages, a role that may not use a page gets the 404 page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import Svc
from api.routes.web import _lang, _not_found, _render, _to_login, templates
from api.services import access
from api.services.sessions import SESSION_COOKIE, session_user
from api.services.uploads import METADATA_KEYS
from api.services.users import User
from api.web.i18n import STRINGS
from ingest.acquire import DEVICE_KINDS
from storage.services import Services

router = APIRouter(include_in_schema=False)

# The navigation in base.html offers Upload only to roles that may upload.
templates.env.globals["may_upload"] = lambda user: access.allowed(user, "upload")

_SCRIPT_STRINGS = ("up_", "st_", "js_", "jobs_")  # what upload.js and jobs.js show


def _script_strings(request: Request) -> dict[str, str]:
    """The page's script strings in the request's language (the rest are in the HTML)."""
    return {k: v for k, v in STRINGS[_lang(request)].items() if k.startswith(_SCRIPT_STRINGS)}


def writable_cases(svc: Services, user: User) -> list[str]:
    """The cases the caller may upload to: every known case for an admin, else the granted
    cases (a grant is enough for the tus endpoint, even before the case has a record)."""
    if user.role == "admin":
        return access.visible_case_numbers(svc, user)
    return sorted(c for c in user.cases if access.can_write_case(user, c))


@router.get("/upload", response_class=HTMLResponse)
async def upload_page(request: Request, svc: Svc) -> Response:
    user = await run_in_threadpool(session_user, svc, request.cookies.get(SESSION_COOKIE))
    if user is None:
        return _to_login(request)
    if not access.allowed(user, "upload"):
        return _not_found(request, user)
    cases = await run_in_threadpool(writable_cases, svc, user)
    context = {
        "cases": cases,
        "device_kinds": DEVICE_KINDS,
        "strings": _script_strings(request),
        # the tus endpoint refuses unknown metadata keys: the page sends only these
        "metadata_keys": list(METADATA_KEYS),
    }
    return _render(request, "upload.html", context, user=user)


@router.get("/jobs", response_class=HTMLResponse)
async def jobs_page(request: Request, svc: Svc) -> Response:
    user = await run_in_threadpool(session_user, svc, request.cookies.get(SESSION_COOKIE))
    if user is None:
        return _to_login(request)
    if not access.allowed(user, "case.read"):
        return _not_found(request, user)
    return _render(request, "jobs.html", {"strings": _script_strings(request)}, user=user)
