"""Search what was said, in the cases the caller may see."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentUser, Reason, UserSvc
from api.schemas import SearchHitOut
from api.services import access
from api.services.transcripts import visible_hits

router = APIRouter(prefix="/api", tags=["search"])


@router.get("/search", responses={404: {}})
def search(
    svc: UserSvc,
    user: CurrentUser,
    reason: Reason,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    case: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[SearchHitOut]:
    if case is not None:
        access.visible_case(svc, user, case, "search")
    access.require(user, "media.read")
    hits = visible_hits(svc, user, q, case, limit)
    if not reason:  # hits in cases that require a viewing reason need one
        flagged = access.recordings_requiring_reason(svc, {h.recording_id for h in hits})
        hits = [h for h in hits if h.recording_id not in flagged]
    for rid in dict.fromkeys(h.recording_id for h in hits):
        spans = [f"{h.start:.3f}-{h.end:.3f}" for h in hits if h.recording_id == rid]
        access.retrieved(svc, user, "search", rid, case_no=case, range_=",".join(spans),
                         reason=reason, query=q)  # fmt: skip
    return [SearchHitOut.of(h) for h in hits]
