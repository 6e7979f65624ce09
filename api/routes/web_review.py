"""The redaction screen and the audit screens of the web UI (pages, out of the OpenAPI
schema): `/recordings/{id}/redact`, `/audit`, `/audit/access.csv`.

They authenticate by the session cookie like the other pages and show what the API
serves; a record outside the caller's cases answers the 404 page and is ledgered.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import Svc
from api.routes.web import _lang, _not_found, _render, _to_login, recording_page
from api.services import access, recordings
from api.services.sessions import SESSION_COOKIE, session_user
from api.services.transcripts import transcripts_of
from api.services.users import User
from api.web.strings_review import REVIEW_STRINGS
from api.web.views import stream_view
from storage.services import Services

router = APIRouter(include_in_schema=False)


def _redact_context(
    svc: Services, user: User, recording_id: str, reason: str | None
) -> dict[str, Any]:
    rec = access.visible_recording(svc, user, recording_id, "redact.page")
    access.require(user, "disclosure.read")
    flagged = access.cases_requiring_reason(svc, rec)
    if flagged and not reason:
        return {"rec": rec, "reason_cases": flagged}
    run = recordings.tracks(svc, rec.id)
    streams = [stream_view(t) for t in transcripts_of(svc, rec.id)]
    access.retrieved(svc, user, "transcript", rec.id, case_no=rec.case_no, reason=reason,
                     via="web.redact")  # fmt: skip
    return {
        "rec": rec,
        "streams": streams,
        "can_write": access.allowed(user, "disclosure.write"),
        "frame_w": run.width if run else rec.width,
        "frame_h": run.height if run else rec.height,
        "fps": run.fps if run else None,
        "viewing_reason": reason,
    }


@router.get("/recordings/{recording_id}/redact", response_class=HTMLResponse)
async def redact_page(request: Request, recording_id: str, svc: Svc) -> Response:
    found = await recording_page(request, svc, recording_id, _redact_context)
    if isinstance(found, Response):
        return found
    user, context = found
    context["js_strings"] = REVIEW_STRINGS[_lang(request)]
    return _render(request, "redact.html", context, user=user)


_ACCESS_COLUMNS = ("seq", "ts", "user", "action", "subject", "case", "range", "reason", "role")


def _access_rows(svc: Services, params: dict[str, str]) -> list[dict[str, Any]]:
    events = access.access_events(
        svc,
        recording=params.get("recording") or None,
        user=params.get("user") or None,
        case_no=params.get("case") or None,
        limit=5000,
    )
    return [
        {
            "seq": e.seq,
            "ts": e.ts,
            "user": e.user,
            "action": e.action.removeprefix("access."),
            "subject": e.subject,
            "case": e.details.get("case", ""),
            "range": e.details.get("range", ""),
            "reason": e.details.get("reason", e.details.get("because", "")),
            "role": e.details.get("role", ""),
            "details": json.dumps(e.details, ensure_ascii=False, sort_keys=True),
        }
        for e in events
    ]


def _audit_user(request: Request, svc: Services) -> User | Response:
    user = session_user(svc, request.cookies.get(SESSION_COOKIE))
    if user is None:
        return _to_login(request)
    if not access.allowed(user, "audit.read"):
        return _not_found(request, user)
    return user


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(request: Request, svc: Svc) -> Response:
    found = await run_in_threadpool(_audit_user, request, svc)
    if isinstance(found, Response):
        return found
    params = {k: request.query_params.get(k, "").strip() for k in ("recording", "user", "case")}
    rows = await run_in_threadpool(_access_rows, svc, params)
    report = await run_in_threadpool(svc.ledger.verify)
    context = {"rows": rows, "params": params, "report": report}
    return _render(request, "audit.html", context, user=found)


@router.get("/audit/access.csv")
async def audit_csv(request: Request, svc: Svc) -> Response:
    found = await run_in_threadpool(_audit_user, request, svc)
    if isinstance(found, Response):
        return found
    params = {k: request.query_params.get(k, "").strip() for k in ("recording", "user", "case")}
    rows = await run_in_threadpool(_access_rows, svc, params)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=[*_ACCESS_COLUMNS, "details"])
    writer.writeheader()
    writer.writerows(rows)
    svc.ledger.record(actor=found.name, action="audit.exported", subject="access-log",
                      details={"rows": len(rows), **params})  # fmt: skip
    headers = {"Content-Disposition": 'attachment; filename="custos-access-log.csv"'}
    # A BOM, so spreadsheet programs read the Chinese names and reasons as UTF-8.
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers=headers)  # fmt: skip
