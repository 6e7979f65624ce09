"""`custos export`: the current plan rendered and checked, then packed, signed and recorded.

The package holds the redacted media, the transcripts with every planned span masked,
the redaction log (each item: what, where, when, who, why; every finding and how it was
settled), and the custody record: the original's digests, the derivatives with their
digests, the ledger events of the recording and the ledger head with its checkpoint
object, so anyone can relate the release to the original offline.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select

from disclosure.errors import FindingsOpen, PlanError
from disclosure.plan import Plan, PlanVersion, current, versions
from disclosure.renders import RenderSummary, render_recording
from models.speech.transcribe import Segment, Transcript, Word
from models.speech.transcript_format import render as render_transcript
from models.speech.transcripts import load_transcripts
from storage.db.schema import Derivative, Recording
from storage.services import Services

Purpose = Literal["public", "party", "court"]
MASK = "＊"


@dataclass(frozen=True)
class ExportResult:
    export_id: str
    recording_id: str
    path: Path
    sha256: str
    plan_version: int
    render_id: int


def _masked(transcript: Transcript, plan: Plan) -> Transcript:
    """The transcript with spoken PII masked character-exact (found again: the finder is
    deterministic), and every word inside a manual mute or text span of its stream."""
    from models.speech.pii import find_pii, redact_transcript

    found = find_pii(transcript, names=plan.names)
    transcript = redact_transcript(transcript, found, mask=MASK)
    mine = transcript.stream_index
    spans = [(t.start, t.end) for t in plan.transcript if t.stream_index == mine and
             t.source != "pii"]  # fmt: skip
    spans += [(m.start, m.end) for m in plan.mutes if m.stream_index == mine and
              m.source != "pii"]  # fmt: skip

    def hidden(word: Word) -> bool:
        middle = (word.start + word.end) / 2
        return any(a <= middle <= b for a, b in spans)

    segments = []
    for seg in transcript.segments:
        words = [Word(w.start, w.end, _mask(w.text) if hidden(w) else w.text, w.probability)
                 for w in seg.words]  # fmt: skip
        text = "".join(w.text for w in words).strip() if words else seg.text
        if not words and any(a <= (seg.start + seg.end) / 2 <= b for a, b in spans):
            text = _mask(seg.text)
        segments.append(Segment(**{**asdict(seg), "words": words, "text": text}))
    return Transcript(**{**asdict(transcript), "segments": segments, "untranscribed":
                         transcript.untranscribed})  # fmt: skip


def _mask(text: str) -> str:
    stripped = text.strip()
    lead = text[: len(text) - len(text.lstrip())]
    return lead + MASK * max(1, min(len(stripped), 4)) if stripped else text


def _redaction_log(versions_: list[PlanVersion], summary: RenderSummary) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = []
    for version in versions_:
        log.append({"what": "plan version", "version": version.version, "sha256": version.sha256,
                    "who": version.author, "when": version.created_at.isoformat(),
                    "why": version.reason})  # fmt: skip
    plan = versions_[-1].plan
    who, when = versions_[-1].author, versions_[-1].created_at.isoformat()
    for t in plan.tracks:
        log.append({"what": f"{t.category} track {t.track_no}",
                    "action": t.method if t.redact else "kept visible",
                    "where": "tracked box", "when_s": [t.first_time, t.last_time],
                    "who": who, "at": when,
                    "why": t.note or "default: privacy region"})  # fmt: skip
    for r in plan.regions:
        log.append({"what": f"manual region {r.id}", "action": r.method, "where": r.keyframes,
                    "when_s": [r.start, r.end], "who": who, "at": when, "why": r.note})  # fmt: skip
    for f in plan.full_frame:
        log.append({"what": "full frame", "action": f.method, "when_s": [f.start, f.end],
                    "who": who, "at": when, "why": f.note})  # fmt: skip
    for m in plan.mutes:
        log.append({"what": f"spoken {m.kind}", "action": m.mode,
                    "where": f"audio stream #{m.stream_index}", "when_s": [m.start, m.end],
                    "who": who, "at": when, "why": f"found by {m.source}"})  # fmt: skip
    for finding in summary.findings:
        log.append({"what": f"exposure finding {finding.id} ({finding.category})",
                    "when_s": [finding.first_time, finding.last_time],
                    "frames": finding.frames, "score": finding.score, "state": finding.state,
                    "why": finding.ack_reason})  # fmt: skip
    return log


def _custody(svc: Services, rec: Recording) -> dict[str, Any]:
    with svc.db.session() as session:
        derived = list(session.scalars(
            select(Derivative).where(Derivative.recording_id == rec.id).order_by(Derivative.id)
        ))  # fmt: skip
        chain = [{"kind": d.kind, "key": d.object_key, "sha256": d.sha256, "size": d.size,
                  "source_sha256": d.source_sha256} for d in derived]  # fmt: skip
    events = [
        {"seq": e.seq, "ts": e.ts, "actor": e.actor, "action": e.action, "subject": e.subject,
         "details": json.loads(e.details), "prev_hash": e.prev_hash, "hash": e.hash}
        for e in svc.ledger.events(rec.id)
    ]  # fmt: skip
    head = svc.ledger.head()
    anchor = None
    if head is not None and head.object_key and svc.store.exists(head.object_key):
        anchor = json.loads(svc.store.get_bytes(head.object_key))
    return {
        "original": {"recording_id": rec.id, "name": rec.original_name, "sha256": rec.sha256,
                     "sm3": getattr(rec, "sm3", None), "size": rec.size,
                     "object_key": rec.object_key},
        "derivatives": chain,
        "ledger_events": events,
        "ledger_head": asdict(head) if head is not None else None,
        "ledger_checkpoint": anchor,
    }  # fmt: skip


def export_recording(
    svc: Services,
    recording_id: str,
    *,
    purpose: Purpose,
    recipient: str,
    out: Path,
    actor: str,
) -> ExportResult:
    """Render when needed, refuse while findings are open, then pack, sign and record."""
    from disclosure.exports import record_export, store_package
    from disclosure.package import PackageContents, build_package
    from storage.ledger_keys import load_keys

    if not recipient.strip():
        raise PlanError("an export needs a recipient")
    summary = render_recording(svc, recording_id, actor=actor)
    if summary.open_findings:
        ids = ", ".join(str(f.id) for f in summary.open_findings)
        raise FindingsOpen(f"{len(summary.open_findings)} exposure finding(s) open ({ids}): fix "
                           "them with a new plan version or acknowledge them")  # fmt: skip
    with svc.db.session() as session:
        rec = session.get(Recording, recording_id)
        assert rec is not None
        all_versions = versions(session, recording_id)
        plan_version = current(session, recording_id)
        transcripts = load_transcripts(session, recording_id)
        session.expunge(rec)
    assert plan_version is not None
    texts: dict[str, str] = {}
    for t in transcripts:
        if t.stream_index is None:
            continue
        masked = _masked(t, plan_version.plan)
        for fmt in ("vtt", "srt", "txt"):
            texts[f"stream-{t.stream_index}.{fmt}"] = render_transcript([masked], fmt)
    key = load_keys(svc.settings).require_signer()
    export_id = str(uuid.uuid4())
    with tempfile.TemporaryDirectory() as tmp:
        media = Path(tmp) / "redacted.mp4"
        media.write_bytes(svc.store.get_bytes(summary.object_key))
        contents = PackageContents(
            export_id=export_id, recording_id=recording_id, case_no=rec.case_no,
            purpose=purpose, recipient=recipient.strip(), exported_by=actor,
            exported_at=datetime.now(UTC), media=[("redacted.mp4", media)], texts=texts,
            redaction_log=_redaction_log(all_versions, summary), custody=_custody(svc, rec),
        )  # fmt: skip
        info = build_package(contents, key, out)
    with svc.db.session() as session:
        record_export(
            session,
            svc.ledger,
            info,
            contents,
            plan_version.version,
            object_key=store_package(svc.store, info),
        )
    return ExportResult(export_id, recording_id, out, info.sha256, plan_version.version,
                        summary.render_id)  # fmt: skip
