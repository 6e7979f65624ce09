"""Cases the caller may see: the case with its lights, steps, links, recordings and
compliance; links made and decided by case officers; the viewing-reason flag."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, UserSvc
from api.schemas import CaseOut, DecidedOut, LinkIn, LinkOut, ReasonFlagIn, RecordingOut, StepOut
from api.services import access
from api.services import cases as case_service
from api.services.users import User
from cases.errors import CasesError, NotFound
from storage.errors import StorageError
from storage.services import Services

router = APIRouter(prefix="/api/cases", tags=["cases"])
LinkId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]


def _writable(svc: Services, user: User, case_no: str, what: str) -> None:
    """The caller may see the case (404 otherwise) and change it (403 otherwise)."""
    access.visible_case(svc, user, case_no, what)
    access.require(user, "case.write")


@router.get("")
def list_cases(svc: UserSvc, user: CurrentUser) -> list[CaseOut]:
    access.require(user, "case.read")
    return [CaseOut(case_no=c) for c in access.visible_case_numbers(svc, user)]


@router.get("/{case_no}", responses={404: {}})
async def show_case(case_no: str, svc: UserSvc, user: CurrentUser) -> dict[str, Any]:
    """The case: its header, steps with lights and reasons, links, unlinked recordings."""
    access.visible_case(svc, user, case_no, "case")
    access.require(user, "case.read")
    view = await run_in_threadpool(
        case_service.case_view, svc, case_no, case_service.checklist(svc)
    )
    return {**view.to_json(), "unlinked_names": view.unlinked_names}


@router.get("/{case_no}/steps", responses={404: {}})
def case_steps(case_no: str, svc: UserSvc, user: CurrentUser) -> list[StepOut]:
    access.visible_case(svc, user, case_no, "case.steps")
    access.require(user, "case.read")
    return [StepOut(**row) for row in case_service.steps(svc, case_no)]


@router.get("/{case_no}/recordings", responses={404: {}})
def case_recordings(case_no: str, svc: UserSvc, user: CurrentUser) -> list[RecordingOut]:
    access.visible_case(svc, user, case_no, "case.recordings")
    access.require(user, "case.read")
    return [RecordingOut.of(r) for r in access.case_recordings(svc, case_no)]


@router.get("/{case_no}/compliance", responses={404: {}})
async def case_compliance(case_no: str, svc: UserSvc, user: CurrentUser) -> dict[str, Any]:
    access.visible_case(svc, user, case_no, "case.compliance")
    access.require(user, "case.read")
    return await run_in_threadpool(case_service.compliance, svc, case_no)


@router.post("/{case_no}/links", status_code=201, responses={404: {}, 409: {}, 422: {}})
def create_link(
    case_no: str,
    svc: UserSvc,
    user: CurrentUser,
    body: Annotated[LinkIn | None, Body()] = None,
) -> LinkOut:
    """Link (part of) a recording of the case to one of its steps, confirmed by the caller."""
    _writable(svc, user, case_no, "case.link")
    if body is None:
        raise HTTPException(422, "the request needs a JSON body with recording and step")
    rec = access.visible_recording(svc, user, body.recording, "case.link")
    try:
        made = case_service.link_recording(svc, rec.id, body.step, case_no=case_no,
                                           start=body.start, end=body.end, proves=body.proves,
                                           rules=case_service.checklist(svc))  # fmt: skip
    except NotFound:
        raise  # no such step: 404
    except (CasesError, StorageError) as exc:
        raise HTTPException(409, str(exc)) from exc
    return LinkOut.model_validate(made, from_attributes=True)


def _decide(svc: Services, user: User, case_no: str, link_id: int, accept: bool) -> DecidedOut:
    _writable(svc, user, case_no, "case.decide")
    if case_service.link_case_no(svc, link_id) != case_no:
        raise HTTPException(404, f"no link {link_id} in case {case_no}")
    try:
        return DecidedOut(decided=case_service.decide_links(svc, [link_id], accept=accept))
    except NotFound:
        raise
    except CasesError as exc:
        raise HTTPException(409, str(exc)) from exc


@router.post("/{case_no}/links/{link_id}/confirm", responses={404: {}, 409: {}})
def confirm_link(case_no: str, link_id: LinkId, svc: UserSvc, user: CurrentUser) -> DecidedOut:
    """Confirm a suggested link."""
    return _decide(svc, user, case_no, link_id, True)


@router.post("/{case_no}/links/{link_id}/reject", responses={404: {}, 409: {}})
def reject_link(case_no: str, link_id: LinkId, svc: UserSvc, user: CurrentUser) -> DecidedOut:
    """Reject a suggested link (it is not suggested again)."""
    return _decide(svc, user, case_no, link_id, False)


@router.put("/{case_no}/reason-required", responses={404: {}, 422: {}})
def reason_required(
    case_no: str,
    svc: UserSvc,
    user: CurrentUser,
    body: Annotated[ReasonFlagIn | None, Body()] = None,
) -> dict[str, Any]:
    """Require (or stop requiring) a stated reason before this case's recordings are viewed."""
    _writable(svc, user, case_no, "case.reason_required")
    if body is None:
        raise HTTPException(422, 'the request needs a JSON body {"required": true|false}')
    case_service.set_reason_required(svc, case_no, on=body.required)
    return {"case_no": case_no, "reason_required": body.required}
