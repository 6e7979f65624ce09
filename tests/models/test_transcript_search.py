"""Stored transcripts and search, on SQLite (FTS5 trigram) and PostgreSQL (pg_trgm)."""

from __future__ import annotations

from sqlalchemy import func, select, text

from models.speech.transcribe import Segment, Transcript, Word
from models.speech.transcripts import (
    TranscriptRow,
    TranscriptSegmentRow,
    load_transcripts,
    normalise_query,
    replace_transcripts,
    search,
    search_form,
)
from storage.services import Services
from tests.models.speech_fixtures import add_recording_row


def _segment(start: float, words: list[tuple[str, float]], *, language: str = "en") -> Segment:
    out, t = [], start
    for word, length in words:
        out.append(Word(round(t, 3), round(t + length, 3), word, 0.9))
        t += length
    return Segment(
        start=start,
        end=round(t, 3),
        text="".join(w.text for w in out).strip(),
        language=language,
        language_probability=0.99,
        avg_logprob=-0.2,
        no_speech_prob=0.01,
        compression_ratio=1.1,
        confidence=0.9,
        speech_ratio=0.9,
        words=out,
    )


def _english(start: float, sentence: str) -> Segment:
    return _segment(start, [(f" {w}", 0.4) for w in sentence.split()])


def _chinese(start: float, sentence: str) -> Segment:
    return _segment(start, [(ch, 0.25) for ch in sentence], language="zh")


def _transcript(
    rec: str, stream: int | None, segments: list[Segment], **extra: object
) -> Transcript:
    values: dict[str, object] = {
        "recording_id": rec,
        "stream_index": stream,
        "stream_label": f"audio, stream #{stream}",
        "status": "done" if segments else "no_speech",
        "language": segments[0].language if segments else None,
        "model": "base",
        "model_sha256": "a" * 64,
        "device": "cpu",
        "compute_type": "int8",
        "params": {"beam_size": 5},
        "params_hash": "p1",
        "segments": segments,
    }
    values.update(extra)
    return Transcript(**values)  # type: ignore[arg-type]


def _store(svc: Services, rec: str, params_hash: str, transcripts: list[Transcript]) -> None:
    with svc.db.session() as session:
        replace_transcripts(session, rec, params_hash, transcripts, {1: "derived/x/stream-1.json"})


def _fixture(svc: Services) -> tuple[str, str]:
    a = add_recording_row(svc, case_no="CASE-A")
    b = add_recording_row(svc, case_no="CASE-B")
    _store(svc, a, "p1", [
        _transcript(a, 1, [
            _english(2.0, "And so my fellow Americans, ask not what your country can do"),
            _english(12.0, "The suspect said 100% of it was his."),
        ]),
        _transcript(a, 2, [_chinese(30.0, "甚至出现交易几乎停滞的情况")]),
    ])  # fmt: skip
    _store(
        svc,
        b,
        "p1",
        [
            _transcript(
                b,
                1,
                [
                    _chinese(5.0, "广州市房地产中介协会分析"),
                    _english(9.0, "country roads take me home"),
                ],
            ),  # fmt: skip
        ],
    )
    return a, b


def test_english_phrase_case_insensitive_with_word_time(svc: Services) -> None:
    a, _ = _fixture(svc)
    hits = search(svc.db, "FELLOW americans")
    assert len(hits) == 1
    hit = hits[0]
    assert (hit.recording_id, hit.stream_index, hit.case_no) == (a, 1, "CASE-A")
    # "fellow" is the 4th word: 2.0 + 3 * 0.4; "Americans," ends two words later
    assert hit.start == 3.2 and hit.end == 4.0
    assert (hit.segment_start, hit.segment_end) == (2.0, 6.8)
    assert "fellow Americans" in hit.snippet


def test_chinese_without_word_spaces_any_length(svc: Services) -> None:
    a, b = _fixture(svc)
    for query, rec, start in [
        ("出现交易", a, 30.5),  # four characters: trigram index
        ("交易", a, 31.0),  # two characters: below trigram length, LIKE fallback
        ("滞", a, 32.25),  # one character
        ("房地产", b, 5.75),
    ]:
        hits = search(svc.db, query)
        assert [(h.recording_id, h.start) for h in hits] == [(rec, start)], query
    assert search(svc.db, "廣州市")[0].recording_id == b  # traditional query, simplified text
    assert search(svc.db, "交易停滞") == []  # not contiguous in the text


def test_terms_all_required_case_filter_and_limit(svc: Services) -> None:
    a, b = _fixture(svc)
    assert {h.recording_id for h in search(svc.db, "country")} == {a, b}
    assert [h.recording_id for h in search(svc.db, "country", case_no="CASE-B")] == [b]
    assert search(svc.db, "country", case_no="CASE-Z") == []
    assert len(search(svc.db, "country", limit=1)) == 1
    assert [(h.start, h.end) for h in search(svc.db, "roads country")] == [(9.0, 9.8)]
    assert search(svc.db, "country nowhere") == []
    assert search(svc.db, "   ") == []


def test_punctuation_and_wildcards(svc: Services) -> None:
    _fixture(svc)
    assert [h.start for h in search(svc.db, "100%")] == [13.2]
    assert search(svc.db, "%") == []  # punctuation alone: nothing to search for
    assert search(svc.db, "_") == []


def test_replacing_is_idempotent_and_only_current_is_searched(svc: Services) -> None:
    a, _ = _fixture(svc)
    again = [_transcript(a, 1, [_english(2.0, "And so my fellow Americans")])]
    _store(svc, a, "p1", again)
    _store(svc, a, "p1", again)
    assert len(search(svc.db, "fellow")) == 1
    assert search(svc.db, "suspect") == []  # gone with the replaced rows
    with svc.db.session() as session:
        rows = session.scalars(select(TranscriptRow).where(TranscriptRow.recording_id == a))
        assert [(r.stream_index, r.current) for r in rows] == [(1, True)]

    # A run with other parameters becomes current; the older one stays stored, unsearched.
    newer = [_transcript(a, 1, [_english(2.0, "And so my fellow citizens")], params_hash="p2")]
    _store(svc, a, "p2", newer)
    assert [h.snippet for h in search(svc.db, "fellow")] == ["And so my fellow citizens"]
    with svc.db.session() as session:
        stored = session.scalar(select(func.count()).select_from(TranscriptSegmentRow))
        assert stored == 1 + 1 + 2  # a/p1, a/p2, and b's two segments
        loaded = load_transcripts(session, a)
    assert [t.params_hash for t in loaded] == ["p2"]
    assert loaded[0].segments[0].words[3].text == " fellow"


def test_round_trip_through_the_database(svc: Services) -> None:
    a, _ = _fixture(svc)
    with svc.db.session() as session:
        loaded = load_transcripts(session, a)
        only_two = load_transcripts(session, a, stream_index=2)
    assert [t.stream_index for t in loaded] == [1, 2]
    assert [t.stream_index for t in only_two] == [2]
    first = loaded[0]
    assert first.segments[0].words[0] == Word(2.0, 2.4, " And", 0.9)
    assert first.model_sha256 == "a" * 64 and first.params == {"beam_size": 5}
    doubtful = _english(1.0, "Thank you. Thank you. Thank you.")
    doubtful.doubtful, doubtful.doubt_reasons = True, ["repetition"]
    _store(svc, a, "p9", [_transcript(a, 1, [doubtful])])
    hit = search(svc.db, "thank")[0]
    assert hit.doubtful


def test_no_audio_rows(svc: Services) -> None:
    rec = add_recording_row(svc)
    _store(svc, rec, "p1", [_transcript(rec, None, [], status="no_audio")])
    with svc.db.session() as session:
        (t,) = load_transcripts(session, rec)
    assert (t.stream_index, t.status, t.segments) == (None, "no_audio", [])


def test_text_index_exists(svc: Services) -> None:
    with svc.db.session() as session:
        if svc.db.dialect == "sqlite":
            sql = "SELECT sql FROM sqlite_master WHERE name = 'transcript_segments_fts'"
            assert "trigram" in str(session.execute(text(sql)).scalar())
        else:
            sql = "SELECT indexdef FROM pg_indexes WHERE indexname = :n"
            found = session.execute(text(sql), {"n": "ix_transcript_segments_text_trgm"})
            assert "gin_trgm_ops" in str(found.scalar())


def test_search_form_ignores_case_punctuation_and_cjk_spaces() -> None:
    form, where = search_form("Americans, ask NOT — 广州市 、佛地产。OK")
    assert form == "americans ask not广州市佛地产ok"
    assert len(where) == len(form)
    text_ = "Americans, ask NOT — 广州市 、佛地产。OK"
    assert all(text_[i].casefold() == c for c, i in zip(form, where, strict=True) if c != " ")
    assert normalise_query("  Fellow,  AMERICANS ") == ["fellow", "americans"]
    assert normalise_query("廣州市 房地產") == ["广州市", "房地产"]
    assert normalise_query("%_!") == []


def test_chinese_with_model_punctuation_and_spaces(svc: Services) -> None:
    rec = add_recording_row(svc)
    words = [("广州市", 0.6), (" ", 0.0), ("佛地产", 0.6), ("，", 0.0), ("中间协会分析", 1.2)]
    _store(svc, rec, "p1", [_transcript(rec, 1, [_segment(40.0, words, language="zh")])])
    hit = search(svc.db, "市佛地产中")[0]
    assert (hit.start, hit.end) == (40.0, 42.4)
    assert search(svc.db, "市佛")[0].snippet == "广州市 佛地产，中间协会分析"
