"""Written records: attached to a step through acquisition (stored write-once, hashed,
ledgered, on the receipt), their text extracted and searchable with the transcripts,
shown with the step, and the records a step's kind requires flagged when absent."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from cases.compliance import case_compliance, case_to_json
from cases.errors import CasesError
from cases.kinds import Checklist, load_checklist
from cases.records import WrittenRecord, attach, extract_text, search_case, search_records
from cases.stats import StatsQuery, compute
from cases.tables import LINK_CONFIRMED, Link
from models.speech.transcribe import Transcript
from models.speech.transcripts import replace_transcripts
from storage.db.schema import LedgerEvent, Recording
from storage.services import Services
from tests.cases.case_factory import T0, add_case, add_recording, add_step
from tests.cases.pdf_factory import Scan, make_pdf
from tests.cases.statement_helpers import segment

RULES = load_checklist()
NOTICE_LINES = ["查封扣押决定书", "当事人：张三", "扣押物品：香烟十箱"]


def _world(svc: Services) -> None:
    with svc.db.session() as s:
        case = add_case(s, "ZF-2026-088")
        add_step(s, case, "S1", "seizure", T0, T0 + timedelta(minutes=10))
        add_step(s, case, "S2", "service", T0 + timedelta(hours=1), T0 + timedelta(hours=2))


def _files(tmp_path: Path) -> dict[str, Path]:
    notice = tmp_path / "notice.pdf"
    notice.write_bytes(make_pdf([NOTICE_LINES, ["Notice of seizure", "Goods: ten boxes"]]))
    scan = tmp_path / "record_scan.png"
    _form(["ON-SITE RECORD", "Case ZF-2026-088", "Goods: ten boxes of cigarettes"]).save(scan)
    text = tmp_path / "清单.txt"
    text.write_bytes("现场笔录：扣押香烟十箱，当事人签字。".encode("gb18030"))
    return {"notice": notice, "scan": scan, "text": text}


def _form(lines: list[str]) -> Image.Image:
    """A scanned form: dark lines on a slightly grey page, a little skewed."""
    img = Image.new("L", (1000, 600), 235)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=36)
    for i, line in enumerate(lines):
        draw.text((70, 70 + i * 90), line, font=font, fill=20)
    return img.rotate(0.7, fillcolor=235)


def test_attach_stores_hashes_ledgers_and_extracts(svc: Services, tmp_path: Path) -> None:
    _world(svc)
    files = _files(tmp_path)
    receipt, done = attach(svc, "ZF-2026-088", "S1", [files["notice"]], "notice")
    _, more = attach(svc, "ZF-2026-088", "S1", [files["scan"], files["text"]], "record")
    assert [a.text_source for a in done + more] == ["pdf_text_layer", "ocr", "text_file"]
    assert (more[0].note or "").startswith("read by OCR, mean confidence 0.9")
    assert more[1].note == "decoded as gb18030"
    assert receipt.entries[0].status == "not-media"
    with svc.db.session() as s:
        for a, path in zip(done + more, files.values(), strict=True):
            rec = s.get(Recording, a.recording_id)
            assert rec is not None and rec.case_no == "ZF-2026-088" and rec.step == "S1"
            body = path.read_bytes()
            assert rec.sha256 == a.sha256 == hashlib.sha256(body).hexdigest()
            assert svc.store.get_bytes(rec.object_key) == body  # the original, write-once
            actions = list(
                s.scalars(select(LedgerEvent.action).where(LedgerEvent.subject == rec.id))
            )
            assert actions == ["acquired", "written_record_attached"]
        rows = list(s.scalars(select(WrittenRecord).order_by(WrittenRecord.id)))
    names = [("notice", "notice.pdf"), ("record", "record_scan.png"), ("record", "清单.txt")]
    assert [(r.kind, r.name) for r in rows] == names
    assert rows[0].pages == 2 and "扣押物品：香烟十箱" in rows[0].text
    assert rows[0].text_sha256 == hashlib.sha256(rows[0].text.encode()).hexdigest()
    details = json.loads(_event(svc, rows[0].recording_id, "written_record_attached").details)
    assert details["text_sha256"] == rows[0].text_sha256 and details["kind"] == "notice"
    assert svc.ledger.verify().ok


def _event(svc: Services, subject: str, action: str) -> LedgerEvent:
    with svc.db.session() as s:
        event = s.scalar(
            select(LedgerEvent).where(LedgerEvent.subject == subject, LedgerEvent.action == action)
        )
    assert event is not None
    return event


def test_same_bytes_twice_are_one_original(svc: Services, tmp_path: Path) -> None:
    _world(svc)
    notice = _files(tmp_path)["notice"]
    _, first = attach(svc, "ZF-2026-088", "S1", [notice], "notice")
    # The same file again is a resumed sighting; a copy elsewhere is a duplicate.
    receipt, again = attach(svc, "ZF-2026-088", "S1", [notice], "notice")
    copy = tmp_path / "copy" / "notice-scan-2.pdf"
    copy.parent.mkdir()
    copy.write_bytes(notice.read_bytes())
    _, other = attach(svc, "ZF-2026-088", "S2", [copy], "receipt")
    assert receipt.entries[0].resumed and again[0].status == first[0].status == "not-media"
    assert other[0].status == "duplicate"
    assert first[0].recording_id == again[0].recording_id == other[0].recording_id
    with svc.db.session() as s:
        assert s.query(Recording).count() == 1
        rows = list(s.scalars(select(WrittenRecord).order_by(WrittenRecord.id)))
    assert [r.kind for r in rows] == ["notice", "receipt"]


def test_search_finds_written_and_spoken_words(svc: Services, tmp_path: Path) -> None:
    _world(svc)
    files = _files(tmp_path)
    attach(svc, "ZF-2026-088", "S1", [files["notice"]], "notice")
    attach(svc, "ZF-2026-088", "S1", [files["scan"]], "record")
    with svc.db.session() as s:
        rec = add_recording(s, start=T0, seconds=20, case_no="ZF-2026-088", name="BWC1.mp4")
        seg = segment(2.0, "扣押物品是香烟")
        replace_transcripts(
            s, rec.id, "p" * 64, [Transcript(rec.id, 0, "a:0", "done", segments=[seg])]
        )
    spoken, written = search_case(svc.db, "扣押物品", case_no="ZF-2026-088")
    assert [h.recording_id for h in spoken] == [rec.id] and spoken[0].start == pytest.approx(2.0)
    assert [(d.step, d.kind, d.name, d.page) for d in written] == [
        ("S1", "notice", "notice.pdf", 1)
    ]
    assert "扣押物品：香烟十箱" in written[0].snippet
    with svc.db.session() as s:
        # Traditional characters, other case and punctuation find the same words.
        assert [d.page for d in search_records(s, "決定書")] == [1]
        assert [d.page for d in search_records(s, "NOTICE, of seizure")] == [2]
        assert search_records(s, "扣押物品", case_no="ZF-1999-000") == []
        assert search_records(s, "听证") == []
        # The scanned form, read by OCR, is found by its words.
        scanned = search_records(s, "ten boxes of cigarettes")
        assert [(d.kind, d.name) for d in scanned] == [("record", "record_scan.png")]


def test_step_shows_its_records_and_flags_those_missing(svc: Services, tmp_path: Path) -> None:
    _world(svc)
    files = _files(tmp_path)
    with svc.db.session() as s:
        report = case_compliance(s, "ZF-2026-088", RULES)
    s1 = report.steps[0]
    assert s1.written == () and s1.written_missing == ("notice", "record")
    assert report.steps[1].written_missing == ("receipt",)
    strict = Checklist(RULES.kinds, RULES.drift_tolerance_s, RULES.required_metadata, "strict",
                       written_record_light="yellow")  # fmt: skip
    with svc.db.session() as s:
        yellow = case_compliance(s, "ZF-2026-088", strict).steps[1]
    assert yellow.light == "yellow"
    assert yellow.issues == ("no written record (receipt) attached to service",)

    attach(svc, "ZF-2026-088", "S1", [files["notice"]], "notice")
    attach(svc, "ZF-2026-088", "S1", [files["scan"]], "record")
    with svc.db.session() as s:
        report = case_compliance(s, "ZF-2026-088", RULES)
    s1 = report.steps[0]
    assert [w["name"] for w in s1.written] == ["notice.pdf", "record_scan.png"]
    assert s1.written_missing == ()
    assert report.unlinked_recordings == ()  # documents are not recordings awaiting a step
    data = case_to_json(report)["steps"][0]
    assert [w["kind"] for w in data["written_records"]] == ["notice", "record"]
    assert data["written_records_missing"] == []


def test_stats_count_what_was_said_not_documents(svc: Services, tmp_path: Path) -> None:
    _world(svc)
    attach(svc, "ZF-2026-088", "S1", [_files(tmp_path)["notice"]], "notice")
    with svc.db.session() as s:
        step_id = s.scalar(select(WrittenRecord.step_id))
        rec = add_recording(s, start=T0, seconds=600, case_no="ZF-2026-088", proves="seizure")
        s.add(Link(recording_id=rec.id, step_id=step_id, status=LINK_CONFIRMED, basis={},
                   created_at=T0, created_by="t"))  # fmt: skip
        from cases.tables import Step

        step = s.get(Step, step_id)
        assert step is not None
        step.officers = ["li", "wang"]
        said = "我们是市场监督管理局的执法人员。你给我闭嘴。"
        seg = segment(1.0, said)
        replace_transcripts(
            s, rec.id, "p" * 64, [Transcript(rec.id, 0, "a:0", "done", segments=[seg])]
        )
    with svc.db.session() as s:
        stats = compute(s, StatsQuery(T0 - timedelta(days=1), T0 + timedelta(days=1)), RULES)
    summary = stats.summary
    assert summary["recordings"] == 1  # the PDF is not a recording
    # Seizure: identity said; credential, notice of recording, seizure, rights not.
    assert summary["statements_missing"] == 4 and summary["steps_missing_statements"] == 1
    assert summary["statements_missing_by_officer"] == {"li": 4, "wang": 4}
    assert summary["language_flags"] == 1 and summary["language_flags_by_officer"] == {
        "li": 1, "wang": 1}  # fmt: skip
    # S1 lacks its record, S2 (service) its receipt.
    assert summary["written_records_missing"] == 2
    unit = stats.by_unit[0]
    assert (unit["statements_missing"], unit["language_flags"]) == (4, 1)


def test_extraction_refuses_nothing_and_invents_nothing() -> None:
    blank = extract_text(make_pdf([None, None]), "scan.pdf")
    assert (blank.text, blank.source, blank.pages) == ("", "none", 2)
    assert "OCR read no text" in (blank.note or "")
    assert extract_text(b"%PDF-1.7 broken", "x.pdf").source == "none"
    assert extract_text(bytes(range(256)) * 4, "blob.bin").source == "none"
    assert extract_text(b"notice", "n.txt").text == "notice"
    empty = io.BytesIO()
    Image.new("L", (400, 300), 255).save(empty, "PNG")
    assert extract_text(empty.getvalue(), "empty.png").source == "none"


def test_scanned_pages_are_read_by_ocr_beside_text_layers() -> None:
    form = _form(["NOTICE OF SEIZURE", "Goods: ten boxes of cigarettes"])
    scan = Scan(form.width, form.height, form.tobytes())
    got = extract_text(make_pdf([scan, ["Receipt signed by the party"]]), "mixed.pdf")
    assert (got.source, got.pages) == ("ocr+pdf_text_layer", 2)
    first, second = got.text.split("\f")
    assert "ten boxes of cigarettes" in first and second == "Receipt signed by the party"
    assert (got.note or "").startswith("page 1: read by OCR")


def test_a_recording_is_not_a_written_record(svc: Services, tmp_path: Path) -> None:
    _world(svc)
    clip = tmp_path / "BWC0042_20261103141500_0003.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=s=160x120:r=10:d=1", "-c:v", "libx264", "-preset", "ultrafast",
                    str(clip)], check=True, timeout=60)  # fmt: skip
    _, done = attach(svc, "ZF-2026-088", "S1", [clip], "record")
    assert done[0].status == "stored" and not done[0].attached
    assert "link it with `custos case link`" in (done[0].note or "")
    with svc.db.session() as s:
        assert s.scalars(select(WrittenRecord)).first() is None


def test_attach_refuses_unknown_kind_and_step(svc: Services, tmp_path: Path) -> None:
    _world(svc)
    notice = _files(tmp_path)["notice"]
    with pytest.raises(CasesError, match="--kind must be one of"):
        attach(svc, "ZF-2026-088", "S1", [notice], "memo")
    with pytest.raises(CasesError, match="no step 'S9'"):
        attach(svc, "ZF-2026-088", "S9", [notice], "notice")
    with svc.db.session() as s:
        assert s.query(Recording).count() == 0
