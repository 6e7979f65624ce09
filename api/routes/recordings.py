"""One recording: its metadata, its media (HTTP range requests) and its transcript."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Body, Header, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field, model_validator

from api.deps import CurrentUser, Reason, UserSvc
from api.routes.streaming import ranged
from api.schemas import DerivativeOut, JobOut, RecordingOut
from api.services import access, recordings
from api.services import bookmarks as bookmark_service
from api.services.media import media_object
from api.services.transcripts import FORMAT_TYPES, render_transcript
from workers.jobs import list_jobs

router = APIRouter(prefix="/api/recordings", tags=["recordings"])


class MediaKind(StrEnum):
    mezzanine = "mezzanine"
    proxy = "proxy"
    audio = "audio"
    poster = "poster"
    sprite = "sprite"
    sprite_vtt = "sprite_vtt"
    original = "original"


class TranscriptFormat(StrEnum):
    vtt = "vtt"
    srt = "srt"
    txt = "txt"
    json = "json"


@router.get("/{recording_id}", responses={404: {}})
def show(recording_id: str, svc: UserSvc, user: CurrentUser) -> RecordingOut:
    rec = access.visible_recording(svc, user, recording_id, "recording")
    access.require(user, "case.read")
    return RecordingOut.of(rec)


@router.get("/{recording_id}/derivatives", responses={404: {}})
def derivatives(recording_id: str, svc: UserSvc, user: CurrentUser) -> list[DerivativeOut]:
    """The derived copies made from the original (mezzanine, proxy, audio, poster, ...)."""
    rec = access.visible_recording(svc, user, recording_id, "derivatives")
    access.require(user, "case.read")
    return [DerivativeOut.of(d) for d in recordings.derivatives(svc, rec.id)]


@router.get("/{recording_id}/jobs", responses={404: {}})
def recording_jobs(recording_id: str, svc: UserSvc, user: CurrentUser) -> list[JobOut]:
    """The recording's processing jobs, with progress and the reason of any failure."""
    rec = access.visible_recording(svc, user, recording_id, "jobs")
    access.require(user, "case.read")
    return [JobOut.of(j) for j in list_jobs(svc, recording_id=rec.id)]


_MEDIA_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"application/octet-stream": {}}},
    206: {"description": "Partial content"},
    404: {},
    416: {},
}


@router.get("/{recording_id}/media/{kind}", response_class=Response, responses=_MEDIA_RESPONSES)
def media(
    recording_id: str,
    kind: MediaKind,
    svc: UserSvc,
    user: CurrentUser,
    reason: Reason,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
) -> Response:
    """The derivative (or, where the role allows, the original) with HTTP range requests;
    428 when the case requires a viewing reason and none is sent."""
    rec = access.visible_recording(svc, user, recording_id, f"media.{kind.value}")
    access.require(user, "media.original" if kind is MediaKind.original else "media.read")
    if kind not in (
        MediaKind.poster,
        MediaKind.sprite,
        MediaKind.sprite_vtt,
    ):  # stills show nobody's words
        access.need_reason(svc, user, rec, reason, f"media.{kind.value}")
    obj = media_object(svc, rec, kind.value)
    response, wanted = ranged(svc, obj, range_header)
    access.retrieved(
        svc,
        user,
        f"media.{kind.value}",
        rec.id,
        case_no=rec.case_no,
        range_=f"bytes={wanted.start}-{wanted.end - 1}" if wanted else "whole",
        reason=reason,
        key=obj.key,
    )
    return response


@router.get("/{recording_id}/transcript", response_class=Response, responses={404: {}})
def transcript(
    recording_id: str,
    svc: UserSvc,
    user: CurrentUser,
    reason: Reason,
    format: TranscriptFormat = TranscriptFormat.vtt,  # noqa: A002 - the query's name
    stream: Annotated[int | None, Query(description="audio stream index")] = None,
) -> Response:
    rec = access.visible_recording(svc, user, recording_id, "transcript")
    access.require(user, "media.read")
    access.need_reason(svc, user, rec, reason, "transcript")
    body = render_transcript(svc, rec.id, format.value, stream)
    access.retrieved(svc, user, "transcript", rec.id, case_no=rec.case_no, reason=reason,
                     format=format.value, stream=stream)  # fmt: skip
    return Response(body, media_type=FORMAT_TYPES[format.value])


class PlayedRange(BaseModel):
    start: float = Field(ge=0)
    end: float = Field(ge=0)

    @model_validator(mode="after")
    def ordered(self) -> PlayedRange:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class PlayedIn(BaseModel):
    """Ranges of the recording played in the browser (seconds of media time)."""

    ranges: list[PlayedRange] = Field(default_factory=list, max_length=1000)
    stream: int | None = None
    kind: MediaKind = MediaKind.mezzanine


@router.post("/{recording_id}/played", status_code=204, responses={404: {}})
def played(
    recording_id: str,
    svc: UserSvc,
    user: CurrentUser,
    reason: Reason,
    body: Annotated[PlayedIn | None, Body()] = None,
) -> Response:
    """Ledger `access.played`: which ranges of the recording the caller watched."""
    rec = access.visible_recording(svc, user, recording_id, "played")
    access.require(user, "media.read")
    ranges = body.ranges if body else []
    if ranges:
        assert body is not None
        text = ",".join(f"{r.start:.2f}-{r.end:.2f}" for r in ranges)
        access.retrieved(
            svc,
            user,
            "played",
            rec.id,
            case_no=rec.case_no,
            range_=f"seconds={text}",
            reason=reason,
            kind=body.kind.value,
            stream=body.stream,
            seconds=round(sum(r.end - r.start for r in ranges), 3),
        )
    return Response(status_code=204)


class BookmarkIn(BaseModel):
    at_s: float = Field(ge=0, le=1e7, description="seconds of media time")
    note: str = Field(default="", max_length=2000)


class BookmarkOut(BaseModel):
    id: int
    recording_id: str
    user: str
    at_s: float
    note: str
    created_at: datetime


@router.get("/{recording_id}/bookmarks", responses={404: {}})
def list_bookmarks(recording_id: str, svc: UserSvc, user: CurrentUser) -> list[BookmarkOut]:
    """The caller's own bookmarks of the recording, in media-time order."""
    rec = access.visible_recording(svc, user, recording_id, "bookmarks")
    access.require(user, "media.read")
    return [BookmarkOut.model_validate(b, from_attributes=True)
            for b in bookmark_service.bookmarks(svc, rec.id, user.name)]  # fmt: skip


@router.post("/{recording_id}/bookmarks", status_code=201, responses={404: {}, 422: {}})
def add_bookmark(
    recording_id: str,
    svc: UserSvc,
    user: CurrentUser,
    body: Annotated[BookmarkIn | None, Body()] = None,
) -> BookmarkOut:
    """Bookmark a moment with a note (ledgered)."""
    rec = access.visible_recording(svc, user, recording_id, "bookmarks")
    access.require(user, "media.read")
    if body is None:
        raise HTTPException(422, "the request needs a JSON body with at_s and note")
    made = bookmark_service.add_bookmark(svc, rec.id, user.name, body.at_s, body.note)
    return BookmarkOut.model_validate(made, from_attributes=True)


@router.delete("/{recording_id}/bookmarks/{bookmark_id}", status_code=204, responses={404: {}})
def remove_bookmark(
    recording_id: str,
    bookmark_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)],
    svc: UserSvc,
    user: CurrentUser,
) -> Response:
    rec = access.visible_recording(svc, user, recording_id, "bookmarks")
    access.require(user, "media.read")
    if not bookmark_service.remove_bookmark(svc, rec.id, user.name, bookmark_id):
        raise HTTPException(404, f"you have no bookmark {bookmark_id} on recording {rec.id}")
    return Response(status_code=204)
