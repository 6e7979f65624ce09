"""For auditors: who retrieved what (and who was refused), and the ledger's verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, UserSvc
from api.schemas import AccessEventOut, LedgerVerifyOut
from api.services import access

router = APIRouter(prefix="/api", tags=["audit"])


@router.get("/audit/access")
def access_log(
    svc: UserSvc,
    user: CurrentUser,
    recording: str | None = None,
    user_name: Annotated[str | None, Query(alias="user")] = None,
    case: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[AccessEventOut]:
    access.require(user, "audit.read")
    events = access.access_events(
        svc, recording=recording, user=user_name, case_no=case, limit=limit
    )
    return [AccessEventOut.of(e) for e in events]


@router.get("/ledger/verify")
async def ledger_verify(svc: UserSvc, user: CurrentUser) -> LedgerVerifyOut:
    access.require(user, "ledger.read")
    report = await run_in_threadpool(svc.ledger.verify)
    return LedgerVerifyOut.of(report)
