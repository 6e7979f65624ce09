"""Statistics for a period, unit or officer (as `custos stats` computes them), as JSON."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, UserSvc
from api.services import access
from api.services import cases as case_service
from cases.errors import CasesError
from cases.stats import StatsQuery
from cases.times import parse_time

router = APIRouter(prefix="/api", tags=["stats"])


@router.get("/stats", responses={422: {}})
async def stats(
    svc: UserSvc,
    user: CurrentUser,
    start: Annotated[str, Query(alias="from", max_length=64, description="ISO date or time")],
    end: Annotated[str, Query(alias="to", max_length=64, description="end, exclusive")],
    unit: Annotated[str | None, Query(max_length=128)] = None,
    officer: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, Any]:
    """Cases, steps, recordings, hours and compliance of the period (every case: auditors)."""
    access.require(user, "stats.read")
    try:
        query = StatsQuery(parse_time(start), parse_time(end), unit, officer)
        result = await run_in_threadpool(
            case_service.statistics, svc, query, case_service.checklist(svc)
        )
    except (CasesError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from exc
    # Every table the computation yields (so one added later is served too), not the query.
    return {
        f.name: getattr(result, f.name)
        for f in dataclasses.fields(result)
        if f.name not in ("query", "upload_delays_s")
    }
