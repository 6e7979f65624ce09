"""Disclosure: the redaction plan, its render and exposure findings, signed export packages.

Disclosure officers (and admin) change plans, render, acknowledge findings, export and
withdraw; reviewers and auditors read. Recordings and exports outside the caller's cases
answer 404 like every other record; reads of plans, renders and packages are ledgered.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Header, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, UserSvc
from api.routes.streaming import ranged
from api.schemas import ExportOut, FindingOut, PlanOut, PlanVersionOut, RenderOut
from api.services import access
from api.services import disclosure as disclosure_service
from api.services.media import MediaObject, stream_bytes
from api.services.users import User
from disclosure import exports as export_store
from disclosure.errors import FindingsOpen, PlanError, RenderError
from disclosure.export_flow import Purpose
from disclosure.plan import Method, Mute, Region
from disclosure.renders import acknowledge, refresh_plan
from disclosure.renders import render_recording as render_plan
from storage.services import Services

router = APIRouter(prefix="/api", tags=["disclosure"])


class PlanRefreshIn(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)
    names: list[str] | None = Field(default=None, max_length=200)


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S")


class ExportIn(BaseModel):
    purpose: Purpose
    recipient: str = Field(min_length=1, max_length=500, pattern=r"\S")


Seconds = Annotated[float, Field(ge=0, le=1e7)]


class TrackDecisionIn(BaseModel):
    track_no: int = Field(ge=0, le=2**31)
    redact: bool
    method: Method = "blur"
    note: str = Field(default="", max_length=500)


class RegionIn(BaseModel):
    """A drawn region: keyframes [t, x1, y1, x2, y2] in pixels of the upright frame."""

    id: str = Field(min_length=1, max_length=64)
    start: Seconds
    end: Seconds
    keyframes: list[Annotated[list[float], Field(min_length=5, max_length=5)]] = Field(
        min_length=1, max_length=10_000
    )
    shape: Literal["rect", "ellipse"] = "rect"
    method: Method = "blur"
    note: str = Field(default="", max_length=500)


class MuteIn(BaseModel):
    stream_index: int = Field(ge=0, le=64)
    start: Seconds
    end: Seconds
    mode: Literal["mute", "bleep"] = "mute"
    kind: str = Field(default="manual", max_length=32)
    text: str = Field(default="", max_length=2000)
    channel: int | None = Field(default=None, ge=0, le=64)
    source: Literal["pii", "manual"] = "manual"


class PlanEditIn(BaseModel):
    """What the disclosure officer decided; a list left out stays as it is."""

    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S")
    tracks: list[TrackDecisionIn] | None = Field(default=None, max_length=10_000)
    regions: list[RegionIn] | None = Field(default=None, max_length=1000)
    mutes: list[MuteIn] | None = Field(default=None, max_length=10_000)


@contextmanager
def _disclosure_errors() -> Iterator[None]:
    """The disclosure domain's refusals as problem responses."""
    try:
        yield
    except FindingsOpen as exc:
        raise HTTPException(409, str(exc)) from exc
    except (PlanError, export_store.ExportError) as exc:
        raise HTTPException(409, str(exc)) from exc
    except RenderError as exc:
        raise HTTPException(422, str(exc)) from exc


def _needs(body: BaseModel | None, what: str) -> None:
    if body is None:
        raise HTTPException(422, f"the request needs a JSON body with {what}")


def _plan_out(svc: Services, recording_id: str) -> PlanOut:
    found = disclosure_service.plan_versions(svc, recording_id)
    outs = [PlanVersionOut.of(v) for v in found]
    return PlanOut(recording_id=recording_id, current=outs[-1] if outs else None, versions=outs)


@router.get("/recordings/{recording_id}/plan", responses={404: {}})
def plan(recording_id: str, svc: UserSvc, user: CurrentUser) -> PlanOut:
    """The current redaction plan and all its versions (`current` is null before the first)."""
    rec = access.visible_recording(svc, user, recording_id, "plan")
    access.require(user, "disclosure.read")
    out = _plan_out(svc, rec.id)
    access.retrieved(svc, user, "plan", rec.id, case_no=rec.case_no,
                     version=out.current.version if out.current else None)  # fmt: skip
    return out


@router.post("/recordings/{recording_id}/plan", responses={404: {}, 409: {}})
def refresh(
    recording_id: str,
    svc: UserSvc,
    user: CurrentUser,
    body: Annotated[PlanRefreshIn | None, Body()] = None,
) -> PlanOut:
    """Make the default plan, or refresh the current one from detection and speech."""
    rec = access.visible_recording(svc, user, recording_id, "plan.refresh")
    access.require(user, "disclosure.write")
    with _disclosure_errors():
        refresh_plan(svc, rec.id, author=user.name, reason=body.reason if body else None,
                     names=body.names if body else None)  # fmt: skip
    return _plan_out(svc, rec.id)


@router.put("/recordings/{recording_id}/plan", responses={404: {}, 409: {}, 422: {}})
def edit_plan(
    recording_id: str,
    svc: UserSvc,
    user: CurrentUser,
    body: Annotated[PlanEditIn | None, Body()] = None,
) -> PlanOut:
    """A new plan version with the tracks kept or redacted, the drawn regions and the
    muted spans given (ledgered with the reason)."""
    rec = access.visible_recording(svc, user, recording_id, "plan.edit")
    access.require(user, "disclosure.write")
    _needs(body, "a reason and the tracks, regions or mutes decided")
    assert body is not None
    tracks = None if body.tracks is None else {
        t.track_no: (t.redact, t.method, t.note) for t in body.tracks}  # fmt: skip
    regions = None if body.regions is None else [Region(**r.model_dump()) for r in body.regions]
    mutes = None if body.mutes is None else [Mute(**m.model_dump()) for m in body.mutes]
    with _disclosure_errors():
        disclosure_service.edit_plan(svc, rec.id, author=user.name, reason=body.reason,
                                     tracks=tracks, regions=regions, mutes=mutes)  # fmt: skip
    return _plan_out(svc, rec.id)


@router.post(
    "/recordings/{recording_id}/renders", status_code=201, responses={404: {}, 409: {}, 422: {}}
)
async def render(recording_id: str, svc: UserSvc, user: CurrentUser) -> RenderOut:
    """Render the current plan (made first when there is none) and check it for exposures;
    an existing render of the current plan is returned as it is (`reused`)."""
    rec = await run_in_threadpool(access.visible_recording, svc, user, recording_id, "render")
    access.require(user, "disclosure.write")
    with _disclosure_errors():
        summary = await run_in_threadpool(render_plan, svc, rec.id, actor=user.name)
    return RenderOut.of(summary)


@router.get("/recordings/{recording_id}/renders/latest", responses={404: {}})
def render_latest(recording_id: str, svc: UserSvc, user: CurrentUser) -> RenderOut:
    """The render of the current plan version with its findings."""
    rec = access.visible_recording(svc, user, recording_id, "render")
    access.require(user, "disclosure.read")
    summary = disclosure_service.latest(svc, rec.id)
    if summary is None:
        raise HTTPException(404, f"recording {rec.id}: the current plan has not been rendered")
    access.retrieved(svc, user, "render", rec.id, case_no=rec.case_no,
                     render=summary.render_id)  # fmt: skip
    return RenderOut.of(summary)


@router.get(
    "/recordings/{recording_id}/renders/latest/media",
    response_class=Response,
    responses={200: {"content": {"video/mp4": {}}}, 206: {}, 404: {}, 416: {}},
)
def render_media(
    recording_id: str,
    svc: UserSvc,
    user: CurrentUser,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
) -> Response:
    """The redacted output of the current plan's render, with HTTP ranges (for review)."""
    rec = access.visible_recording(svc, user, recording_id, "render.media")
    access.require(user, "disclosure.read")
    summary = disclosure_service.latest(svc, rec.id)
    if summary is None:
        raise HTTPException(404, f"recording {rec.id}: the current plan has not been rendered")
    stat = svc.store.stat(summary.object_key)
    if stat is None:
        raise HTTPException(404, f"the render of recording {rec.id} is not in the store")
    obj = MediaObject(summary.object_key, stat.size, "video/mp4")
    response, wanted = ranged(svc, obj, range_header)
    access.retrieved(svc, user, "render.media", rec.id, case_no=rec.case_no,
                     range_=f"bytes={wanted.start}-{wanted.end - 1}" if wanted else "whole",
                     render=summary.render_id)  # fmt: skip
    return response


@router.post(
    "/recordings/{recording_id}/findings/{finding_id}/acknowledge",
    responses={404: {}, 409: {}},
)
def acknowledge_finding(
    recording_id: str,
    finding_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)],
    svc: UserSvc,
    user: CurrentUser,
    body: Annotated[ReasonIn | None, Body()] = None,
) -> FindingOut:
    """Accept an exposure finding as it is, with the reason (ledgered)."""
    rec = access.visible_recording(svc, user, recording_id, "finding.acknowledge")
    access.require(user, "disclosure.write")
    if not disclosure_service.finding_of(svc, rec.id, finding_id):
        raise HTTPException(404, f"no finding {finding_id} for recording {rec.id}")
    _needs(body, "a reason")
    assert body is not None
    with _disclosure_errors():
        finding = acknowledge(svc, rec.id, finding_id, actor=user.name, reason=body.reason)
    return FindingOut.of(finding)


@router.post(
    "/recordings/{recording_id}/exports", status_code=201, responses={404: {}, 409: {}, 422: {}}
)
async def create_export(
    recording_id: str,
    svc: UserSvc,
    user: CurrentUser,
    body: Annotated[ExportIn | None, Body()] = None,
) -> ExportOut:
    """Render when needed, then pack, sign, store and record a disclosure package; 409 while
    exposure findings are open."""
    rec = await run_in_threadpool(access.visible_recording, svc, user, recording_id, "export")
    access.require(user, "disclosure.write")
    _needs(body, "purpose and recipient")
    assert body is not None

    with _disclosure_errors():
        record = await run_in_threadpool(
            lambda: disclosure_service.export_stored(
                svc, rec.id, purpose=body.purpose, recipient=body.recipient, actor=user.name
            )
        )
    return ExportOut.of(record)


@router.get("/exports")
def list_exports(svc: UserSvc, user: CurrentUser, recording: str | None = None) -> list[ExportOut]:
    """Exports (of one recording when given) of the recordings the caller may see."""
    access.require(user, "disclosure.read")
    if recording is not None:
        recording = access.visible_recording(svc, user, recording, "exports").id
    found = disclosure_service.list_exports(svc, recording)
    seen = access.seen_recordings(svc, user, {e.recording_id for e in found})
    return [ExportOut.of(e) for e in found if e.recording_id in seen]


def _visible_export(svc: Services, user: User, export_id: str, what: str) -> ExportOut:
    record = disclosure_service.get_export(svc, export_id)
    if record is None:
        raise HTTPException(404, f"no export {export_id!r}")
    try:
        access.visible_recording(svc, user, record.recording_id, what)
    except access.NotVisible as exc:
        raise HTTPException(404, f"no export {export_id!r}") from exc
    return ExportOut.of(record)


_ZIP_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"application/zip": {}}},
    404: {},
    410: {},
}


@router.get("/exports/{export_id}/download", response_class=Response, responses=_ZIP_RESPONSES)
def download(export_id: str, svc: UserSvc, user: CurrentUser) -> Response:
    """The signed package as stored, streamed; 410 once withdrawn."""
    access.require(user, "disclosure.read")
    export = _visible_export(svc, user, export_id, "export.download")
    if export.withdrawn:
        raise HTTPException(410, f"export {export_id} was withdrawn: {export.withdraw_reason}")
    record = disclosure_service.get_export(svc, export_id)
    assert record is not None
    stat = svc.store.stat(record.object_key)
    if stat is None:
        raise HTTPException(404, f"the package of export {export_id} is not in the store")
    size = stat.size
    access.retrieved(svc, user, "export", export.recording_id, case_no=export.case_no,
                     export_id=export_id, sha256=export.sha256)  # fmt: skip
    headers = {
        "Content-Length": str(size),
        "Content-Disposition": f'attachment; filename="custos-export-{export_id}.zip"',
    }
    return StreamingResponse(
        stream_bytes(svc, record.object_key, 0, size), media_type="application/zip",
        headers=headers,
    )  # fmt: skip


@router.post("/exports/{export_id}/withdraw", responses={404: {}, 409: {}})
def withdraw(
    export_id: str,
    svc: UserSvc,
    user: CurrentUser,
    body: Annotated[ReasonIn | None, Body()] = None,
) -> ExportOut:
    """Withdraw an export, with the reason (ledgered `disclosure.withdrawn`)."""
    access.require(user, "disclosure.write")
    _visible_export(svc, user, export_id, "export.withdraw")
    _needs(body, "a reason")
    assert body is not None
    reason = body.reason
    with _disclosure_errors():
        record = disclosure_service.withdraw(svc, export_id, actor=user.name, reason=reason)
    return ExportOut.of(record)
