"""Cases the caller may see, their recordings and their compliance."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, UserSvc
from api.schemas import CaseOut, RecordingOut
from api.services import access
from api.services.cases import compliance

router = APIRouter(prefix="/api/cases", tags=["cases"])


@router.get("")
def list_cases(svc: UserSvc, user: CurrentUser) -> list[CaseOut]:
    access.require(user, "case.read")
    return [CaseOut(case_no=c) for c in access.visible_case_numbers(svc, user)]


@router.get("/{case_no}/recordings", responses={404: {}})
def case_recordings(case_no: str, svc: UserSvc, user: CurrentUser) -> list[RecordingOut]:
    access.visible_case(svc, user, case_no, "case.recordings")
    access.require(user, "case.read")
    return [RecordingOut.of(r) for r in access.case_recordings(svc, case_no)]


@router.get("/{case_no}/compliance", responses={404: {}})
async def case_compliance(case_no: str, svc: UserSvc, user: CurrentUser) -> dict[str, Any]:
    access.visible_case(svc, user, case_no, "case.compliance")
    access.require(user, "case.read")
    return await run_in_threadpool(compliance, svc, case_no)
