"""Transcripts as WebVTT, SRT, text or JSON, and transcript search limited to what a user sees."""

from __future__ import annotations

from sqlalchemy import select

from api.services.access import recording_cases
from api.services.users import User
from models.speech.transcribe import Transcript
from models.speech.transcript_format import render
from models.speech.transcripts import SearchHit, load_transcripts, search
from storage.db.schema import Recording
from storage.services import Services

FORMAT_TYPES = {
    "vtt": "text/vtt; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "json": "application/json",
}


class NoTranscript(LookupError):
    pass


def transcripts_of(svc: Services, recording_id: str, stream: int | None = None) -> list[Transcript]:
    """The recording's transcripts (of one audio stream when given), in stream order."""
    with svc.db.session() as session:
        return load_transcripts(session, recording_id, stream_index=stream)


def render_transcript(svc: Services, recording_id: str, fmt: str, stream: int | None) -> str:
    with svc.db.session() as session:
        found = load_transcripts(session, recording_id, stream_index=stream)
    if not found:
        raise NoTranscript(f"recording {recording_id} has no transcript (yet)")
    if fmt in ("vtt", "srt"):
        found = found[:1]  # one audio stream per subtitle file; choose with ?stream=
    return render(found, fmt)


def visible_hits(
    svc: Services, user: User, query: str, case_no: str | None, limit: int = 50
) -> list[SearchHit]:
    """Search hits, only in recordings of cases the user may see."""
    if user.all_cases or case_no is not None:
        return search(svc.db, query, case_no=case_no, limit=limit)
    hits = search(svc.db, query, case_no=None, limit=limit * 4)
    allowed: dict[str, bool] = {}
    with svc.db.session() as session:
        for rid in {h.recording_id for h in hits}:
            rec = session.scalar(select(Recording).where(Recording.id == rid))
            allowed[rid] = rec is not None and bool(recording_cases(session, rec) & user.cases)
    return [h for h in hits if allowed.get(h.recording_id)][:limit]
