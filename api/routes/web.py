"""The web UI's pages: login and logout, cases, a case, the clip view; the language switch.

Pages authenticate by the session cookie (api/services/sessions.py); a page that is not
allowed redirects to the login form, a record outside the user's cases answers 404 like the
API. Pages stay out of the OpenAPI schema.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from api.deps import Svc, Throttle
from api.services import access
from api.services.cases import case_summaries, case_view, checklist
from api.services.sessions import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    csrf_matches,
    end_session,
    new_csrf_token,
    session_user,
    start_session,
)
from api.services.transcripts import transcripts_of
from api.services.users import User, check_password
from api.web.i18n import LANG_COOKIE, LANGS, STRINGS, pick_language
from api.web.views import StreamView, clock, stream_view, timeline
from cases.compliance import case_to_json
from cases.errors import NotFound
from storage.services import Services

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
templates.env.globals["clock"] = clock

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """A local path to go back to; anything else (another site, //host) goes to /cases."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/cases"
    return target


def _lang(request: Request) -> str:
    return pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def _cookie_kw(request: Request) -> dict[str, Any]:
    return {"samesite": "strict", "secure": request.url.scheme == "https", "path": "/"}


def _render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    user: User | None = None,
    status: int = 200,
    csrf: str | None = None,
) -> HTMLResponse:
    lang = _lang(request)
    token = csrf or request.cookies.get(CSRF_COOKIE) or new_csrf_token()
    body = {
        "t": STRINGS[lang],
        "lang": lang,
        "langs": LANGS,
        "user": user,
        "csrf": token,
        "here": request.url.path,
        **context,
    }
    response = templates.TemplateResponse(request, name, body, status_code=status)
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=False, **_cookie_kw(request))
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _to_login(request: Request) -> RedirectResponse:
    """Back to the login form; a cookie that no longer names a session is cleared."""
    target = "/login?next=" + quote(request.url.path)
    if request.cookies.get(SESSION_COOKIE):
        target += "&expired=1"
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _as_user(svc: Services, user: User) -> Services:
    settings = svc.settings.model_copy(update={"actor": user.name})
    return dataclasses.replace(svc, settings=settings)


def _not_found(request: Request, user: User) -> HTMLResponse:
    return _render(request, "not_found.html", {}, user=user, status=404)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, svc: Svc) -> Response:
    user = session_user(svc, request.cookies.get(SESSION_COOKIE))
    return RedirectResponse("/cases" if user else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None, expired: int = 0) -> Response:  # noqa: A002
    error = STRINGS[_lang(request)]["expired"] if expired else None
    return _render(request, "login.html", {"next": _safe_next(next), "error": error})


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    svc: Svc,
    throttle: Throttle,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form(alias=CSRF_FIELD)] = "",
    next: Annotated[str, Form()] = "/cases",  # noqa: A002
) -> Response:
    t = STRINGS[_lang(request)]
    target = _safe_next(next)
    context: dict[str, Any] = {"next": target, "username": username}
    if not csrf_matches(request.cookies.get(CSRF_COOKIE), csrf):
        return _render(request, "login.html", {**context, "error": t["csrf"]}, status=403)
    address = request.client.host if request.client else "unknown"
    if throttle.retry_after(username, address) is not None:
        return _render(request, "login.html", {**context, "error": t["throttled"]}, status=429)
    user = check_password(svc, username, password)
    if user is None:
        throttle.failed(username, address)
        svc.ledger.record(
            actor=username[:128] or "anonymous",
            action="auth.failed",
            subject=username[:255] or "-",
            details={"address": address, "via": "web"},
        )
        return _render(request, "login.html", {**context, "error": t["wrong_password"]},
                       status=401)  # fmt: skip
    throttle.succeeded(username, address)
    session = start_session(svc, user.name)
    svc.ledger.record(actor=user.name, action="auth.session", subject=user.name,
                      details={"address": address, "expires_in": session.expires_in})  # fmt: skip
    response = RedirectResponse(target, status_code=303)
    kw = _cookie_kw(request)
    response.set_cookie(SESSION_COOKIE, session.access_token, max_age=session.expires_in,
                        httponly=True, **kw)  # fmt: skip
    # a fresh CSRF token for the session (the one before login may have been planted)
    response.set_cookie(CSRF_COOKIE, new_csrf_token(), httponly=False, **kw)
    return response


@router.post("/logout")
def logout(
    request: Request, svc: Svc, csrf: Annotated[str, Form(alias=CSRF_FIELD)] = ""
) -> Response:
    if not csrf_matches(request.cookies.get(CSRF_COOKIE), csrf):
        return _render(request, "login.html", {"next": "/cases",
                       "error": STRINGS[_lang(request)]["csrf"]}, status=403)  # fmt: skip
    cookie = request.cookies.get(SESSION_COOKIE)
    user = session_user(svc, cookie)
    if end_session(svc, cookie) and user is not None:
        svc.ledger.record(actor=user.name, action="auth.logout", subject=user.name, details={})
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/lang/{code}")
def switch_language(request: Request, code: str, next: str | None = None) -> Response:  # noqa: A002
    response = RedirectResponse(_safe_next(next), status_code=303)
    if code in LANGS:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, httponly=True,
                            **_cookie_kw(request))  # fmt: skip
    return response


@router.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request, svc: Svc) -> Response:
    user = session_user(svc, request.cookies.get(SESSION_COOKIE))
    if user is None:
        return _to_login(request)
    if not access.allowed(user, "case.read"):
        return _not_found(request, user)
    numbers = access.visible_case_numbers(svc, user)
    return _render(request, "cases.html", {"cases": case_summaries(svc, numbers)}, user=user)


@router.get("/cases/{case_no}", response_class=HTMLResponse)
async def case_page(request: Request, case_no: str, svc: Svc) -> Response:
    user = await run_in_threadpool(session_user, svc, request.cookies.get(SESSION_COOKIE))
    if user is None:
        return _to_login(request)
    usvc = _as_user(svc, user)
    try:
        access.visible_case(usvc, user, case_no, "case.page")
        access.require(user, "case.read")
    except (access.NotVisible, access.Forbidden):
        return _not_found(request, user)
    try:
        view = await run_in_threadpool(case_view, svc, case_no, checklist(svc))
        report: dict[str, Any] | None = {**view.header, **case_to_json(view.report)}
        links = view.links
    except NotFound:
        report, links = None, []
    recordings = await run_in_threadpool(access.case_recordings, svc, case_no)
    axis = timeline(recordings, report["steps"] if report else [])
    context = {"case_no": case_no, "report": report, "recordings": recordings, "links": links,
               "axis": axis, "can_play": access.allowed(user, "media.read"),
               "can_redact": access.allowed(user, "disclosure.read")}  # fmt: skip
    return _render(request, "case.html", context, user=user)


def _clip_context(
    svc: Services, user: User, recording_id: str, reason: str | None
) -> dict[str, Any]:
    rec = access.visible_recording(svc, user, recording_id, "clip.page")
    access.require(user, "media.read")
    flagged = access.cases_requiring_reason(svc, rec)
    if flagged and not reason:
        return {"rec": rec, "reason_cases": flagged}
    streams: list[StreamView] = [stream_view(t) for t in transcripts_of(svc, rec.id)]
    access.retrieved(svc, user, "transcript", rec.id, case_no=rec.case_no, reason=reason,
                     via="web")  # fmt: skip
    return {"rec": rec, "streams": streams, "viewing_reason": reason,
            "can_redact": access.allowed(user, "disclosure.read")}  # fmt: skip


RecordingContext = Callable[[Services, User, str, str | None], dict[str, Any]]


async def recording_page(
    request: Request, svc: Services, recording_id: str, build: RecordingContext
) -> tuple[User, dict[str, Any]] | Response:
    """A page about one recording: the session's user and the context `build` makes, or
    the response instead (login, the 404 page, or the reason prompt when the case needs
    one and `?reason=` is not given)."""
    user = await run_in_threadpool(session_user, svc, request.cookies.get(SESSION_COOKIE))
    if user is None:
        return _to_login(request)
    reason = (request.query_params.get("reason") or "").strip()[:500] or None
    try:
        context = await run_in_threadpool(build, _as_user(svc, user), user, recording_id, reason)
    except (access.NotVisible, access.Forbidden):
        return _not_found(request, user)
    if "reason_cases" in context:
        return _render(request, "reason.html", context, user=user)
    return user, context


@router.get("/recordings/{recording_id}", response_class=HTMLResponse)
async def clip_page(request: Request, recording_id: str, svc: Svc) -> Response:
    found = await recording_page(request, svc, recording_id, _clip_context)
    if isinstance(found, Response):
        return found
    user, context = found
    try:
        context["start_at"] = max(0.0, float(request.query_params.get("t", "")))
    except ValueError:
        context["start_at"] = None
    return _render(request, "clip.html", context, user=user)
