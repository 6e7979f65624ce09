"""The privacy regions detected and tracked in one recording."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from api.deps import CurrentUser, Reason, UserSvc
from api.services import access, recordings

router = APIRouter(prefix="/api/recordings", tags=["tracks"])


@router.get("/{recording_id}/tracks", responses={404: {}})
def tracks(recording_id: str, svc: UserSvc, user: CurrentUser, reason: Reason) -> dict[str, Any]:
    """The newest detection run: its summary and every track with its keyframes."""
    rec = access.visible_recording(svc, user, recording_id, "tracks")
    access.require(user, "media.read")
    access.need_reason(svc, user, rec, reason, "tracks")
    run = recordings.tracks(svc, rec.id)
    if run is None:
        what = "is not video" if rec.media_kind != "video" else "has not been through detection"
        raise HTTPException(404, f"recording {rec.id} {what}: no tracks")
    access.retrieved(svc, user, "tracks", rec.id, case_no=rec.case_no, reason=reason,
                     run=run.params_hash)  # fmt: skip
    return recordings.tracks_json(rec, run)
