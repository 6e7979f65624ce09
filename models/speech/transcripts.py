"""Stored transcripts: tables, idempotent replace, loading, and search across recordings.

One `transcripts` row per (recording, audio stream, parameters); its segments carry the
words (JSON), confidences and doubt flags. Search finds text without relying on word
spaces, so it works for Chinese as well as English: SQLite uses an FTS5 table with the
trigram tokenizer (queries of one or two characters, too short for trigrams, fall back to
LIKE); PostgreSQL uses ILIKE backed by a pg_trgm GIN index. Both are created by migration
0004.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.speech.transcribe import Segment, Transcript, UntranscribedSpan, Word
from models.speech.trust import to_simplified
from storage.db import Database
from storage.db.schema import Base, UTCDateTime


class TranscriptRow(Base):
    __tablename__ = "transcripts"
    __table_args__ = (UniqueConstraint("recording_id", "stream_index", "params_hash"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), index=True)
    stream_index: Mapped[int | None] = mapped_column(Integer)
    stream_label: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))  # done | no_speech | no_audio
    current: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    language: Mapped[str | None] = mapped_column(String(16))
    language_probability: Mapped[float | None] = mapped_column(Float)
    languages: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    speech_s: Mapped[float] = mapped_column(Float, default=0.0)
    audio_sha256: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(Text)
    model_sha256: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(16))
    compute_type: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params_hash: Mapped[str] = mapped_column(String(64), index=True)
    decode: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    segment_count: Mapped[int] = mapped_column(Integer, default=0)
    doubtful_count: Mapped[int] = mapped_column(Integer, default=0)
    object_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    channels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    untranscribed: Mapped[list[Any]] = mapped_column(JSON, default=list)


class TranscriptSegmentRow(Base):
    __tablename__ = "transcript_segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transcript_id: Mapped[str] = mapped_column(
        ForeignKey("transcripts.id", ondelete="CASCADE"), index=True
    )
    recording_id: Mapped[str] = mapped_column(String(36), index=True)
    stream_index: Mapped[int | None] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    search_text: Mapped[str] = mapped_column(Text)  # see search_form(); the indexed column
    language: Mapped[str | None] = mapped_column(String(16))
    language_probability: Mapped[float | None] = mapped_column(Float)
    avg_logprob: Mapped[float] = mapped_column(Float)
    no_speech_prob: Mapped[float] = mapped_column(Float)
    compression_ratio: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    speech_ratio: Mapped[float] = mapped_column(Float)
    words: Mapped[list[Any]] = mapped_column(JSON, default=list)
    doubtful: Mapped[bool] = mapped_column(Boolean, default=False)
    doubt_reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    channel: Mapped[int | None] = mapped_column(Integer)
    second_pass: Mapped[bool] = mapped_column(Boolean, default=False)


# --- writing -------------------------------------------------------------------------------


def _segment_row(transcript_id: str, t: Transcript, seq: int, s: Segment) -> TranscriptSegmentRow:
    return TranscriptSegmentRow(
        transcript_id=transcript_id,
        recording_id=t.recording_id,
        stream_index=t.stream_index,
        seq=seq,
        start_s=s.start,
        end_s=s.end,
        text=s.text,
        search_text=search_form(s.text)[0],
        language=s.language,
        language_probability=s.language_probability,
        avg_logprob=s.avg_logprob,
        no_speech_prob=s.no_speech_prob,
        compression_ratio=s.compression_ratio,
        confidence=s.confidence,
        speech_ratio=s.speech_ratio,
        words=[[w.start, w.end, w.text, w.probability] for w in s.words],
        doubtful=s.doubtful,
        doubt_reasons=list(s.doubt_reasons),
        channel=s.channel,
        second_pass=s.second_pass,
    )


def replace_transcripts(
    session: Session,
    recording_id: str,
    params_hash: str,
    transcripts: Sequence[Transcript],
    object_keys: dict[int | None, str] | None = None,
) -> list[TranscriptRow]:
    """Store the transcripts of one recording for one parameter set, replacing any earlier
    rows for the same parameters; they become the recording's current transcripts."""
    old = select(TranscriptRow.id).where(
        TranscriptRow.recording_id == recording_id, TranscriptRow.params_hash == params_hash
    )
    old_ids = list(session.scalars(old))
    if old_ids:
        session.execute(
            delete(TranscriptSegmentRow).where(TranscriptSegmentRow.transcript_id.in_(old_ids))
        )
        session.execute(delete(TranscriptRow).where(TranscriptRow.id.in_(old_ids)))
    session.execute(
        update(TranscriptRow)
        .where(TranscriptRow.recording_id == recording_id)
        .values(current=False)
    )
    now = datetime.now(UTC)
    rows: list[TranscriptRow] = []
    for t in transcripts:
        row = TranscriptRow(
            id=str(uuid.uuid4()),
            recording_id=recording_id,
            stream_index=t.stream_index,
            stream_label=t.stream_label,
            status=t.status,
            current=True,
            language=t.language,
            language_probability=t.language_probability,
            languages=dict(t.languages),
            duration_s=t.duration_s,
            speech_s=t.speech_s,
            audio_sha256=t.audio_sha256,
            model=t.model,
            model_sha256=t.model_sha256,
            device=t.device,
            compute_type=t.compute_type,
            params=dict(t.params),
            params_hash=params_hash,
            decode=dict(t.decode),
            segment_count=len(t.segments),
            doubtful_count=sum(1 for s in t.segments if s.doubtful),
            object_key=(object_keys or {}).get(t.stream_index),
            created_at=now,
            channels=[dict(c) for c in t.channels],
            untranscribed=[asdict(u) for u in t.untranscribed],
        )
        session.add(row)
        session.flush()
        session.add_all(_segment_row(row.id, t, i, s) for i, s in enumerate(t.segments))
        rows.append(row)
    session.flush()
    return rows


# --- reading -------------------------------------------------------------------------------


def _to_transcript(row: TranscriptRow, segments: Iterable[TranscriptSegmentRow]) -> Transcript:
    return Transcript(
        recording_id=row.recording_id,
        stream_index=row.stream_index,
        stream_label=row.stream_label,
        status=row.status,
        language=row.language,
        language_probability=row.language_probability,
        languages=dict(row.languages or {}),
        duration_s=row.duration_s,
        speech_s=row.speech_s,
        audio_sha256=row.audio_sha256,
        model=row.model,
        model_sha256=row.model_sha256,
        device=row.device,
        compute_type=row.compute_type,
        params=dict(row.params or {}),
        params_hash=row.params_hash,
        decode=dict(row.decode or {}),
        channels=[dict(c) for c in row.channels or []],
        untranscribed=[UntranscribedSpan(**u) for u in row.untranscribed or []],
        segments=[
            Segment(
                start=s.start_s,
                end=s.end_s,
                text=s.text,
                language=s.language,
                language_probability=s.language_probability,
                avg_logprob=s.avg_logprob,
                no_speech_prob=s.no_speech_prob,
                compression_ratio=s.compression_ratio,
                confidence=s.confidence,
                speech_ratio=s.speech_ratio,
                words=[Word(float(a), float(b), str(c), float(d)) for a, b, c, d in s.words],
                doubtful=s.doubtful,
                doubt_reasons=list(s.doubt_reasons or []),
                channel=s.channel,
                second_pass=bool(s.second_pass),
            )
            for s in segments
        ],
    )


def transcript_rows(
    session: Session, recording_id: str, *, params_hash: str | None = None
) -> list[TranscriptRow]:
    """The recording's current transcripts, or those made with `params_hash`."""
    query = select(TranscriptRow).where(TranscriptRow.recording_id == recording_id)
    if params_hash is None:
        query = query.where(TranscriptRow.current.is_(True))
    else:
        query = query.where(TranscriptRow.params_hash == params_hash)
    return list(session.scalars(query.order_by(TranscriptRow.stream_index)))


def load_transcripts(
    session: Session, recording_id: str, *, stream_index: int | None = None
) -> list[Transcript]:
    out = []
    for row in transcript_rows(session, recording_id):
        if stream_index is not None and row.stream_index != stream_index:
            continue
        segments = session.scalars(
            select(TranscriptSegmentRow)
            .where(TranscriptSegmentRow.transcript_id == row.id)
            .order_by(TranscriptSegmentRow.seq)
        )
        out.append(_to_transcript(row, segments))
    return out


# --- search --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    recording_id: str
    stream_index: int | None
    start: float  # seconds: the matched words when word times are known, else the segment
    end: float
    snippet: str
    segment_start: float
    segment_end: float
    language: str | None
    doubtful: bool
    case_no: str | None
    channel: int | None = None  # the channel it was heard on, when channels were apart


_TRIGRAM = 3
_SNIPPET_CONTEXT = 40
# Scripts written without spaces between words: spaces next to them are dropped from the
# searchable form, so "广州市 房地产" (as Whisper sometimes writes it) matches "广州市房地产".
_NO_SPACES = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def search_form(text_: str) -> tuple[str, list[int]]:
    """The text as it is searched, and for each of its characters the source position.

    Case-folded and NFKC-normalised; punctuation becomes a space; spaces collapse, and
    vanish next to Han, kana and hangul. So "Americans, ask" and "americans ask" match, and
    Chinese matches whatever punctuation or spaces the model put between characters.
    """
    chars: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text_):
        for c in unicodedata.normalize("NFKC", ch).casefold():
            if c.isalnum():
                chars.append(c)
                where.append(i)
            elif chars and chars[-1] != " ":
                chars.append(" ")
                where.append(i)
    keep = [
        k
        for k, c in enumerate(chars)
        if c != " "
        or not (
            k == len(chars) - 1 or _NO_SPACES.match(chars[k - 1]) or _NO_SPACES.match(chars[k + 1])
        )
    ]
    return "".join(chars[k] for k in keep), [where[k] for k in keep]


def normalise_query(query: str) -> list[str]:
    """Terms of a query in search form: simplified Chinese, split on white space."""
    terms = (search_form(t)[0] for t in to_simplified(unicodedata.normalize("NFKC", query)).split())
    return [t for t in terms if t]


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _search_sql(dialect: str, terms: list[str], case_no: str | None) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"current": True}
    where = ["t.current = :current"]
    source = "transcript_segments s"
    like_terms = terms
    if dialect == "sqlite":
        long_terms = [t for t in terms if len(t) >= _TRIGRAM]
        if long_terms:
            source = "transcript_segments_fts f JOIN transcript_segments s ON s.id = f.rowid"
            where.append("transcript_segments_fts MATCH :fts")
            params["fts"] = " ".join(_fts_phrase(t) for t in long_terms)
        # Trigrams cannot find one or two characters: those terms are scanned with LIKE.
        like_terms = [t for t in terms if len(t) < _TRIGRAM]
    for i, term in enumerate(like_terms):
        where.append(f"s.search_text LIKE :like{i} ESCAPE '\\'")
        params[f"like{i}"] = _like_pattern(term)
    if case_no is not None:
        where.append("r.case_no = :case_no")
        params["case_no"] = case_no
    sql = (
        "SELECT s.recording_id, s.stream_index, s.start_s, s.end_s, s.text, s.words, "
        "s.language, s.doubtful, r.case_no, s.channel "
        f"FROM {source} "
        "JOIN transcripts t ON t.id = s.transcript_id "
        "JOIN recordings r ON r.id = s.recording_id "
        f"WHERE {' AND '.join(where)} "
        "ORDER BY r.ingested_at, s.recording_id, s.stream_index, s.start_s "
        "LIMIT :limit"
    )
    return sql, params


def _word_times(
    text_: str, words: list[Any], first: int, last: int
) -> tuple[float | None, float | None]:
    """Times of the words covering characters [first, last) of the segment text."""
    joined = "".join(str(w[2]) for w in words)
    offset = -(len(joined) - len(joined.lstrip()))  # the text was stripped, the words not
    start = end = None
    for w_start, w_end, w_text, _ in words:
        w_from, w_to = offset, offset + len(str(w_text))
        offset = w_to
        if w_to <= first or w_from >= last:
            continue
        start = float(w_start) if start is None else start
        end = float(w_end)
    return start, end


def _match(
    text_: str, words: list[Any], terms: list[str]
) -> tuple[int, int, float | None, float | None]:
    """Where the terms are in the text (first..last character) and the times they span."""
    form, where = search_form(text_)
    phrase = " ".join(terms)
    spans = []
    for term in [phrase] if len(terms) > 1 and phrase in form else terms:
        pos = form.find(term)
        if pos >= 0:
            spans.append((where[pos], where[pos + len(term) - 1] + 1))
    if not spans:
        return 0, 0, None, None
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    start, end = _word_times(text_, words, first, last) if words else (None, None)
    return first, last, start, end


def _snippet(text_: str, first: int, last: int) -> str:
    a = max(0, first - _SNIPPET_CONTEXT)
    b = min(len(text_), last + _SNIPPET_CONTEXT)
    return ("…" if a > 0 else "") + text_[a:b] + ("…" if b < len(text_) else "")


def search(
    db: Database, query: str, case_no: str | None = None, limit: int = 50
) -> list[SearchHit]:
    """Segments of current transcripts containing every term of `query`, oldest recording
    first. Matching ignores case, punctuation and the spaces around Chinese characters, and
    needs no word boundaries, so it works for Chinese as well as English."""
    terms = normalise_query(query)
    if not terms:
        return []
    sql, params = _search_sql(db.dialect, terms, case_no)
    params["limit"] = limit
    with db.session() as session:
        rows = session.execute(text(sql), params).all()
    hits = []
    for rec_id, stream, start, end, seg_text, words, language, doubtful, case, chan in rows:
        if isinstance(words, str):  # raw JSON text where the driver does not parse it
            words = json.loads(words)
        words = words if isinstance(words, list) else []
        first, last, w_start, w_end = _match(seg_text, words, terms)
        hits.append(
            SearchHit(
                recording_id=rec_id,
                stream_index=stream,
                start=w_start if w_start is not None else float(start),
                end=w_end if w_end is not None else float(end),
                snippet=_snippet(seg_text, first, last),
                segment_start=float(start),
                segment_end=float(end),
                language=language,
                doubtful=bool(doubtful),
                case_no=case,
                channel=chan,
            )
        )
    return hits
