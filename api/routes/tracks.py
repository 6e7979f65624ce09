"""The privacy regions detected and tracked in one recording."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import Response

from api.deps import CurrentUser, Reason, UserSvc
from api.routes.streaming import ranged
from api.services import access, recordings
from api.services.media import MediaObject

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


@router.get(
    "/{recording_id}/tracks/{track_no}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {}},
)
def track_thumbnail(
    recording_id: str,
    track_no: Annotated[int, PathParam(ge=0, le=2**31)],
    svc: UserSvc,
    user: CurrentUser,
    reason: Reason,
) -> Response:
    """The best crop of one track (a face, a plate ...) from the newest detection run."""
    rec = access.visible_recording(svc, user, recording_id, "tracks.thumbnail")
    access.require(user, "media.read")
    access.need_reason(svc, user, rec, reason, "tracks.thumbnail")
    run = recordings.tracks(svc, rec.id)
    found = [s for s in (run.tracks if run else []) if s.track.track_id == track_no]
    if not found or not found[0].thumbnail_key:
        raise HTTPException(404, f"recording {rec.id} has no thumbnail of track {track_no}")
    key = found[0].thumbnail_key
    stat = svc.store.stat(key)
    if stat is None:
        raise HTTPException(404, f"the thumbnail of track {track_no} is not in the store")
    response, _ = ranged(svc, MediaObject(key, stat.size, "image/jpeg"), None)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
