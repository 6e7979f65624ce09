"""Written records (文字记录) beside the recordings of a step: attach, extract text, search.

A notice, on-site record, decision or service receipt (PDF, a scanned form's image, or
text) is attached to a step with `custos case attach`. It goes through acquisition like
any original (`ingest.acquire`: read once, SHA-256 and SM3, write-once content-addressed
store, custody ledger, receipt), so a document is as provable as a recording and the same
bytes attached twice are one original. In the transaction that records it the written
record row is written with its text: a PDF's text layer (pypdf), a text file's contents
(UTF-8, else GB18030), and for an image or a page without a text layer (a scan) the
text that OCR reads (RapidOCR, PP-OCRv4 Chinese/English models shipped in its wheel, on
ONNX Runtime; no download), marked as such with its confidence. The text is searchable
with the transcripts (`search_case`), and each step shows its written records beside its
recordings.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from cases.errors import CasesError
from cases.kinds import WRITTEN_KINDS
from cases.repo import find_case, find_step
from cases.tables import Case, Step
from ingest.acquire import CaptureMeta, IngestCallbacks, ingest
from ingest.receipt import Receipt
from models.speech.transcripts import SearchHit, normalise_query, search, search_form
from storage.db import Database
from storage.db.schema import Base, Recording, UTCDateTime
from storage.services import Services

_TEXT_SUFFIXES = (".txt", ".text", ".md", ".csv")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")
PAGE_BREAK = "\f"


class WrittenRecord(Base):
    """A document attached to a step; the bytes are a Recording (an original)."""

    __tablename__ = "written_records"
    __table_args__ = (UniqueConstraint("step_id", "recording_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("case_steps.id"), index=True)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # notice | record | decision | receipt
    name: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text, default="")
    search_text: Mapped[str] = mapped_column(Text, default="")
    text_source: Mapped[str] = mapped_column(String(32))  # pdf_text_layer|text_file|ocr|none
    text_note: Mapped[str | None] = mapped_column(Text)
    pages: Mapped[int | None] = mapped_column(Integer)
    text_sha256: Mapped[str | None] = mapped_column(String(64))
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attached_by: Mapped[str] = mapped_column(String(128))


@dataclass(frozen=True)
class Extracted:
    text: str
    source: str
    note: str | None = None
    pages: int | None = None


def extract_text(data: bytes, name: str) -> Extracted:
    """The text of a document: a PDF's text layer (pages joined by form feeds), a text
    file's contents, or what OCR reads in an image or a scanned PDF's pages."""
    suffix = Path(name).suffix.lower()
    if data.startswith(b"%PDF-"):
        return _pdf_text(data)
    if suffix in _IMAGE_SUFFIXES or _looks_like_image(data):
        return _image_text([data])
    # GB18030 decodes nearly any bytes: only a file named as text is read that way.
    encodings = ("utf-8-sig", "gb18030") if suffix in _TEXT_SUFFIXES else ("utf-8-sig",)
    if suffix in _TEXT_SUFFIXES or b"\x00" not in data[:4096]:
        for encoding in encodings:
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                continue
            note = None if encoding.startswith("utf") else f"decoded as {encoding}"
            return Extracted(text, "text_file", note)
    return Extracted("", "none", "not a PDF, image or text file: stored and hashed, no text")


def _looks_like_image(data: bytes) -> bool:
    return data.startswith((b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF8", b"BM"))


def _pdf_text(data: bytes) -> Extracted:
    """Each page's text layer; a page without one (a scan) is read by OCR from its images."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = list(reader.pages)
        layers = [(page.extract_text() or "").strip() for page in pages]
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        return Extracted("", "none", f"PDF could not be read ({exc}); stored and hashed")
    texts: list[str] = []
    sources: set[str] = set()
    notes: list[str] = []
    for number, (page, layer) in enumerate(zip(pages, layers, strict=True), start=1):
        if layer:
            texts.append(layer)
            sources.add("pdf_text_layer")
            continue
        try:
            images = [img.data for img in page.images]
        except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
            texts.append("")
            notes.append(f"page {number}: no text layer, images unreadable ({exc})")
            continue
        read = _image_text(images) if images else Extracted("", "none", "no text, no image")
        texts.append(read.text)
        if read.text:
            sources.add("ocr")
        if read.note:
            notes.append(f"page {number}: {read.note}")
    if not any(texts):
        note = "a PDF without a text layer (a scan?) where OCR read no text"
        return Extracted("", "none", note, len(pages))
    source = "+".join(sorted(sources))  # pdf_text_layer, ocr, or ocr+pdf_text_layer
    return Extracted(PAGE_BREAK.join(texts), source, "; ".join(notes) or None, len(pages))


_OCR_MIN_CONFIDENCE = 0.5  # lines read less surely than this are left out


@lru_cache(maxsize=1)
def _ocr_engine() -> Any:
    # Loaded once per process; the models ship inside the package (no download).
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


def _image_text(images: Sequence[bytes]) -> Extracted:
    """OCR of images (one page): lines top to bottom, with the mean confidence."""
    lines: list[str] = []
    scores: list[float] = []
    for data in images:
        try:
            result, _ = _ocr_engine()(data)
        except Exception as exc:  # noqa: BLE001 - any decoder/OCR failure: kept, no text
            return Extracted("", "none", f"an image OCR could not read ({exc})")
        for _box, line, confidence in result or []:
            if float(confidence) >= _OCR_MIN_CONFIDENCE and str(line).strip():
                lines.append(str(line).strip())
                scores.append(float(confidence))
    if not lines:
        return Extracted("", "none", "an image in which OCR found no text")
    mean = sum(scores) / len(scores)
    return Extracted("\n".join(lines), "ocr", f"read by OCR, mean confidence {mean:.2f}")


# --- attach -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Attached:
    path: str
    status: str  # the receipt's status: stored, duplicate, not-media ...
    recording_id: str | None
    sha256: str | None
    kind: str
    text_source: str | None
    chars: int
    note: str | None

    @property
    def attached(self) -> bool:
        return self.recording_id is not None and self.text_source != "not_attached"


def attach(
    svc: Services, case_no: str, step_ref: str, paths: Sequence[Path], kind: str
) -> tuple[Receipt, list[Attached]]:
    """Acquire `paths` as originals and attach each to the step as a written record."""
    if kind not in WRITTEN_KINDS:
        raise CasesError(f"--kind must be one of {', '.join(WRITTEN_KINDS)}, not {kind!r}")
    with svc.db.session() as session:
        find_case(session, case_no)
        step = find_step(session, step_ref, case_no)
        step_id, step_key = step.id, step.key
    extracted: dict[str, Extracted] = {}

    def in_transaction(session: Session, rec: Recording) -> list[str]:
        # The written record is written with the original and its ledger event, so an
        # interrupted attach leaves either both or neither; rerunning it is harmless.
        found = session.scalar(
            select(WrittenRecord).where(
                WrittenRecord.step_id == step_id,
                WrittenRecord.recording_id == rec.id,
                WrittenRecord.kind == kind,
            )
        )
        if found is not None:
            extracted[rec.id] = Extracted(found.text, found.text_source, found.text_note)
            return []
        if rec.media_kind in ("video", "audio"):
            # A recording is linked to the step (`custos case link`), not attached to it.
            note = f"{rec.media_kind}, not a document: link it with `custos case link`"
            extracted[rec.id] = Extracted("", "not_attached", note)
            return []
        got = extract_text(svc.store.get_bytes(rec.object_key), rec.original_name)
        extracted[rec.id] = got
        digest = hashlib.sha256(got.text.encode()).hexdigest() if got.text else None
        session.add(
            WrittenRecord(
                step_id=step_id,
                recording_id=rec.id,
                kind=kind,
                name=rec.original_name,
                text=got.text,
                search_text=search_form(got.text.replace(PAGE_BREAK, " "))[0],
                text_source=got.source,
                text_note=got.note,
                pages=got.pages,
                text_sha256=digest,
                attached_at=datetime.now(UTC),
                attached_by=svc.actor,
            )
        )
        svc.ledger.append(
            session,
            actor=svc.actor,
            action="written_record_attached",
            subject=rec.id,
            details={
                "case_no": case_no,
                "step": step_key,
                "kind": kind,
                "sha256": rec.sha256,
                "text_source": got.source,
                "text_sha256": digest,
            },
        )
        return []  # a document gets no processing jobs

    meta = CaptureMeta(
        case_no=case_no,
        step=step_key,
        collector=svc.actor,
        proves=f"written record ({kind}) of step {step_key}",
    )
    receipt = ingest(svc, list(paths), meta, IngestCallbacks(in_transaction=in_transaction))
    out = []
    for entry in receipt.entries:
        got = extracted.get(entry.recording_id or "")
        out.append(
            Attached(
                entry.path,
                entry.status,
                entry.recording_id,
                entry.sha256,
                kind,
                got.source if got else None,
                len(got.text) if got else 0,
                (got.note if got else None) or entry.reason,
            )
        )
    return receipt, out


# --- reading ----------------------------------------------------------------------------


def step_records(session: Session, step_ids: Sequence[int]) -> dict[int, list[WrittenRecord]]:
    out: dict[int, list[WrittenRecord]] = {}
    ids = sorted(set(step_ids))
    for offset in range(0, len(ids), 500):
        rows = session.scalars(
            select(WrittenRecord)
            .where(WrittenRecord.step_id.in_(ids[offset : offset + 500]))
            .order_by(WrittenRecord.attached_at, WrittenRecord.id)
        )
        for row in rows:
            out.setdefault(row.step_id, []).append(row)
    return out


def written_recording_ids(session: Session) -> set[str]:
    """Originals that are documents, not audio/video records of a step."""
    return set(session.scalars(select(WrittenRecord.recording_id).distinct()))


def record_to_json(row: WrittenRecord) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "name": row.name,
        "recording_id": row.recording_id,
        "text_source": row.text_source,
        "text_note": row.text_note,
        "pages": row.pages,
        "chars": len(row.text),
        "attached_at": row.attached_at.isoformat(),
        "attached_by": row.attached_by,
    }


# --- search -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentHit:
    record_id: int
    recording_id: str
    case_no: str
    step: str
    kind: str
    name: str
    page: int | None  # 1-based, for PDFs
    snippet: str


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_records(
    session: Session, query: str, case_no: str | None = None, limit: int = 50
) -> list[DocumentHit]:
    """Written records whose text holds every term of `query` (as transcript search
    matches: case, punctuation and spaces around Chinese ignored; traditional as
    simplified)."""
    terms = normalise_query(query)
    if not terms:
        return []
    q = (
        select(WrittenRecord, Step.key, Case.case_no)
        .join(Step, Step.id == WrittenRecord.step_id)
        .join(Case, Case.id == Step.case_id)
    )
    for term in terms:
        q = q.where(WrittenRecord.search_text.like(_like(term), escape="\\"))
    if case_no is not None:
        q = q.where(Case.case_no == case_no)
    hits = []
    for row, key, case in session.execute(q.order_by(WrittenRecord.id).limit(limit)):
        page, snippet = _locate(row.text, terms[0], row.pages is not None)
        hits.append(
            DocumentHit(row.id, row.recording_id, case, key, row.kind, row.name, page, snippet)
        )
    return hits


def _locate(text: str, term: str, paged: bool) -> tuple[int | None, str]:
    """The page (form feeds part them) and a snippet around the first hit of `term`."""
    form, where = search_form(text)
    pos = form.find(term)
    if pos < 0:
        return None, text[:80]
    at = where[pos]
    end = where[min(len(where) - 1, pos + len(term) - 1)] + 1
    page = text.count(PAGE_BREAK, 0, at) + 1 if paged else None
    a, b = max(0, at - 40), min(len(text), end + 40)
    snippet = text[a:b].replace(PAGE_BREAK, " ").replace("\n", " ")
    return page, ("…" if a else "") + snippet + ("…" if b < len(text) else "")


def search_case(
    db: Database, query: str, case_no: str | None = None, limit: int = 50
) -> tuple[list[SearchHit], list[DocumentHit]]:
    """Transcripts and written records together: what was said and what was written."""
    spoken = search(db, query, case_no=case_no, limit=limit)
    with db.session() as session:
        written = search_records(session, query, case_no=case_no, limit=limit)
    return spoken, written
