"""Acquisition: each file is read once; the same bytes are hashed and stored write-once.

Order of effects for one file, chosen so that a crash at any point loses nothing and
duplicates nothing: (1) stream into the object store under a temp name, check what was
stored against what was read, and publish at the content address, (2) probe the stored
bytes, (3) one transaction writes the recording, the sighting, the ledger event and the
recording's jobs (`IngestCallbacks.in_transaction`), whose messages are sent after the
commit. A rerun finds (1) done and redoes (2)-(3).

A file whose path, size and mtime match a completed sighting of an earlier run is hashed
again but not stored again: equal names and sizes are no proof of equal bytes (a swapped
card), so it counts as resumed only when its digest matches, and it still gets its
sighting and ledger event in this run. A duplicate's stored copy is checked against the
digest it was recorded with, and repaired from the duplicate when it fails.
"""

from __future__ import annotations

import errno
import io
import os
import re
import socket
import stat
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

import yaml
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ingest.errors import IngestSetupError
from ingest.filenames import load_patterns, parse_name
from ingest.fixity import object_problem
from ingest.probe import ProbeResult, probe
from ingest.receipt import (
    CHANGED,
    DUPLICATE,
    NOT_MEDIA,
    STORED,
    UNPLAYABLE,
    UNREADABLE,
    Receipt,
    ReceiptEntry,
)
from ingest.scan import raw_path_hex, scan, shown_path
from ingest.sniff import MEDIA_EXTENSIONS, Sniff, sniff
from storage.db.schema import IngestRun, Recording, Sighting
from storage.errors import StorageError
from storage.ledger import utc_now_iso
from storage.localzone import describe, local_zone, offset_name
from storage.objects import MultiHasher, PutResult
from storage.services import Services

DEVICE_KINDS = ("body_cam", "cctv", "interview_room", "audio", "other")
REQUIRED_CAPTURE_FIELDS = ("case_no", "capture_time", "location", "collector", "proves")


@dataclass(frozen=True)
class CaptureMeta:
    """What the recording rules require for every record; missing items mark it incomplete."""

    case_no: str | None = None
    step: str | None = None
    collector: str | None = None
    location: str | None = None
    proves: str | None = None
    device_kind: str = "other"

    def __post_init__(self) -> None:
        if self.device_kind not in DEVICE_KINDS:
            raise ValueError(f"device kind must be one of {', '.join(DEVICE_KINDS)}")


@dataclass
class IngestCallbacks:
    on_start: Callable[[int, int], None] = lambda files, nbytes: None
    on_file: Callable[[Path, int], None] = lambda path, size: None
    on_bytes: Callable[[int], None] = lambda n: None
    on_done: Callable[[ReceiptEntry], None] = lambda entry: None
    on_new_recording: Callable[[str], None] = lambda recording_id: None
    # Inside the transaction that records a file against a recording (new, duplicate or
    # resumed): create what must exist with it, the recording's jobs; returns their ids.
    in_transaction: Callable[[Session, Recording], list[str]] = lambda session, rec: []
    # After that transaction has committed: send those jobs' messages.
    after_commit: Callable[[list[str]], None] = lambda job_ids: None


@dataclass
class _Outcome:
    status: str
    reason: str | None
    probe: ProbeResult | None = None
    sniffed: Sniff | None = None
    extra: dict[str, object] = field(default_factory=dict)


def _classify(path: Path, put: PutResult, result: ProbeResult | None) -> _Outcome:
    sniffed = sniff(put.first_chunk)
    if put.size == 0:
        return _Outcome(UNPLAYABLE, "empty file (0 bytes)", result, sniffed)
    if result is not None and result.playable:
        return _Outcome(STORED, None, result, sniffed)
    reason = result.reason if result is not None else "not probed"
    claims_media = path.suffix.lower() in MEDIA_EXTENSIONS
    if sniffed.format in ("mp4", "mov", "3gp") and b"moov" not in put.first_chunk:
        reason = (
            "truncated MP4/MOV: no moov atom (recording not finalised, e.g. the battery "
            f"died); media data kept as stored ({reason})"
        )
        return _Outcome(UNPLAYABLE, reason, result, sniffed)
    if sniffed.kind in ("video", "audio", "image"):
        return _Outcome(
            UNPLAYABLE,
            f"{sniffed.format} content that cannot be decoded: {reason}",
            result,
            sniffed,
        )
    if claims_media:
        return _Outcome(
            UNPLAYABLE,
            f"named {path.suffix} but the content is not a recognised media format ({reason})",
            result,
            sniffed,
        )
    return _Outcome(NOT_MEDIA, "not audio/video content; stored as an attachment", result, sniffed)


@dataclass(frozen=True)
class _Earlier:
    """A completed sighting of the same path, size and mtime by an earlier run."""

    status: str
    reason: str | None
    recording_id: str
    sha256: str
    object_key: str


@dataclass
class _Read:
    """What reading one file produced, handed from a reader thread to the settling loop."""

    before: os.stat_result | None = None
    put: PutResult | None = None
    changed: bool = False
    resumed: _Earlier | None = None  # the same bytes as that earlier sighting: not stored again
    error: str | None = None


@dataclass(frozen=True)
class _Repair:
    """What checking a duplicate's stored copy found and did."""

    action: str  # ledger action: original_repaired | original_repair_failed
    problem: str
    note: str  # for the receipt
    error: str | None = None


def _open_nofollow(path: Path) -> io.FileIO:
    """Open a regular file for reading, refusing a symbolic link (ELOOP) or anything else
    that replaced the file since its stat; O_NONBLOCK so a FIFO put there cannot hang the
    open (it has no effect on regular files)."""
    flags = os.O_NOFOLLOW | os.O_NONBLOCK
    handle = io.FileIO(path, "rb", opener=lambda name, mode: os.open(name, mode | flags))
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise OSError(errno.EINVAL, "not a regular file")
    return handle


def _special(mode: int) -> str | None:
    """What a file that is neither regular nor a link is, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kinds = (
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    )
    return next((name for test, name in kinds if test(mode)), "special file")


class _Upto(io.RawIOBase):
    """Reads a file up to the size it had when reading began, never further.

    A file that keeps growing (a recorder still writing, or a hostile writer extending it
    faster than it can be read) would otherwise be followed without end, into the store.
    What grew is noticed by the stat after the read: the file is flagged as changed.
    """

    def __init__(self, handle: io.RawIOBase, limit: int) -> None:
        super().__init__()
        self._handle = handle
        self._left = limit

    @property
    def name(self) -> str:
        """The file's name, as the handle it wraps has it (stores and logs show it)."""
        return str(getattr(self._handle, "name", ""))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer).cast("B")
        n = self._handle.readinto(view[: min(len(view), self._left)]) or 0
        self._left -= n
        return n


class Ingestor:
    """Runs one ingest: scan, acquire each file, write the receipt."""

    def __init__(self, svc: Services, meta: CaptureMeta, callbacks: IngestCallbacks | None = None):
        self.svc = svc
        self.meta = meta
        self.cb = callbacks or IngestCallbacks()
        self.host = socket.gethostname()
        try:
            self.patterns = load_patterns(svc.settings.filename_patterns_file)
        except (OSError, ValueError, re.error, yaml.YAMLError) as exc:
            raise IngestSetupError(f"CUSTOS_FILENAME_PATTERNS_FILE: {exc}") from exc
        self.zone = local_zone(svc.settings.local_timezone)
        self.run_id = str(uuid.uuid4())
        self._started: datetime | None = None

    # -- run ------------------------------------------------------------------------
    def run(self, paths: list[Path]) -> Receipt:
        settings = self.svc.settings
        self.svc.store.clean_orphans()
        files = list(scan(paths, exclude=[settings.data_dir]))
        sizes = {}
        for f in files:
            try:
                sizes[f] = f.lstat().st_size
            except OSError:
                sizes[f] = 0
        self.cb.on_start(len(files), sum(sizes.values()))
        started = self._ensure_run([shown_path(p) for p in paths])
        entries: list[ReceiptEntry] = []
        # Reading (hash + store + fsync) runs ahead on a few threads, so one file's fsync
        # overlaps the next file's hashing; settling (probe, duplicate check, database,
        # ledger) stays sequential in scan order, so the first path seen always wins.
        pool = ThreadPoolExecutor(max(1, settings.ingest_readers), "custos-read")
        try:
            for path, read in zip(files, pool.map(self._read, files), strict=True):
                self.cb.on_file(path, sizes[path])
                entry = self._settle(path, read)
                entries.append(entry)
                self.cb.on_done(entry)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        receipt = Receipt(
            self.run_id, started.isoformat(), utc_now_iso(), self.svc.actor, self.host, entries
        )

        def finish(session: Session) -> None:
            run = session.get(IngestRun, self.run_id)
            assert run is not None
            run.finished_at = datetime.now(UTC)
            run.counts = receipt.counts()
            self.svc.ledger.append(
                session,
                actor=self.svc.actor,
                action="ingest_run",
                subject=f"run:{self.run_id}",
                details={"host": self.host, "counts": receipt.counts()},
            )

        self.svc.db.run(finish)
        receipt.ledger_head = self.svc.ledger.checkpoint()
        return receipt

    def _ensure_run(self, paths: list[str] | None = None) -> datetime:
        if self._started is None:
            started = datetime.now(UTC)
            run = IngestRun(
                id=self.run_id,
                started_at=started,
                actor=self.svc.actor,
                host=self.host,
                params={"paths": paths or [], "meta": self.meta.__dict__},
                counts={},
            )
            self.svc.db.run(lambda s: s.add(run))
            self._started = started
        return self._started

    # -- one file ----------------------------------------------------------------------
    def acquire(self, path: Path) -> ReceiptEntry:
        """Acquire one file (read, then settle)."""
        self._ensure_run()
        return self._settle(path, self._read(path))

    def _read(self, path: Path) -> _Read:
        """Stream the file once into the store; safe to run on several threads."""
        try:
            before = path.lstat()
        except OSError as exc:
            return _Read(error=f"cannot stat: {exc.strerror or exc}")
        if stat.S_ISLNK(before.st_mode):
            # A link in a dump (or named on the command line) may point anywhere: at
            # /etc/shadow, at another case's card. Only what is inside the input is read.
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            return _Read(error=f"a symbolic link (to {shown_path(target)}): not followed")
        special = _special(before.st_mode)
        if special is not None:  # reading a FIFO or a device would block or never end
            return _Read(before, error=f"not a regular file (a {special}): not read")
        earlier = self._earlier(path, before)
        if earlier is not None:
            try:
                if self._same_bytes(path, before, earlier):
                    return _Read(before, resumed=earlier)
            except OSError as exc:
                return _Read(before, error=f"read failed: {exc.strerror or exc}")
            except StorageError:
                pass  # cannot tell whether the earlier copy is there: store it again
        try:
            with _open_nofollow(path) as handle:
                put = self.svc.store.put_content_addressed(
                    cast(BinaryIO, _Upto(handle, before.st_size)),
                    on_chunk=lambda chunk: self.cb.on_bytes(len(chunk)),
                )
        except OSError as exc:
            return _Read(before, error=f"read failed: {exc.strerror or exc}")
        except StorageError as exc:
            return _Read(before, error=f"not stored: {exc}")
        try:
            after = path.stat()
            changed = (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)
        except OSError:
            changed = True
        return _Read(before, put, changed or put.size != before.st_size)

    def _settle(self, path: Path, read: _Read) -> ReceiptEntry:
        """Probe, decide stored/duplicate/..., and record: one file at a time, in order."""
        if read.resumed is not None and read.before is not None:
            return self._resumed(path, read.before, read.resumed)
        if read.error is not None or read.put is None or read.before is None:
            return self._unreadable(path, read.before, read.error or "not read")
        return self._record(path, read.before, read.put, read.changed)

    def _earlier(self, path: Path, st: os.stat_result) -> _Earlier | None:
        with self.svc.db.session() as session:
            row = session.execute(
                select(Sighting, Recording)
                .join(Recording, Sighting.recording_id == Recording.id)
                .where(
                    Sighting.source_path == shown_path(path),
                    Sighting.source_host == self.host,
                    Sighting.source_size == st.st_size,
                    Sighting.source_mtime_ns == st.st_mtime_ns,
                    Sighting.run_id != self.run_id,
                )
                .order_by(Sighting.id)
                .limit(1)
            ).first()
        if row is None:
            return None
        sighting, rec = row
        return _Earlier(sighting.status, sighting.reason, rec.id, rec.sha256, rec.object_key)

    def _same_bytes(self, path: Path, before: os.stat_result, earlier: _Earlier) -> bool:
        """Hash `path` (without storing it): does it hold the earlier sighting's bytes?"""
        hasher = MultiHasher(("sha256",))
        buffer = bytearray(self.svc.store.chunk_size)
        with _open_nofollow(path) as handle:
            while n := handle.readinto(buffer):
                hasher.update(memoryview(buffer)[:n])
                self.cb.on_bytes(n)
        after = path.stat()
        return (
            (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
            and hasher.size == before.st_size
            and hasher.hexdigests()["sha256"] == earlier.sha256
            and self.svc.store.exists(earlier.object_key)
        )

    def _source(self, path: Path) -> dict[str, object]:
        """Where a file came from, for ledger events: the path as shown, and its raw bytes."""
        details: dict[str, object] = {"source_path": shown_path(path), "host": self.host}
        raw = raw_path_hex(path)
        if raw is not None:
            details["source_path_hex"] = raw
        return details

    def _resumed(self, path: Path, st: os.stat_result, earlier: _Earlier) -> ReceiptEntry:
        """The same bytes as an earlier run's sighting: a sighting and an event in this run."""

        def work(session: Session) -> tuple[Recording, list[str]]:
            rec = session.get(Recording, earlier.recording_id)
            assert rec is not None
            session.add(self._sighting(path, st, rec.id, earlier.status, earlier.reason))
            self.svc.ledger.append(
                session,
                actor=self.svc.actor,
                action="resumed_sighting",
                subject=rec.id,
                details={
                    **self._source(path),
                    "run_id": self.run_id,
                    "sha256": rec.sha256,
                    "status": earlier.status,
                },
            )
            return rec, self.cb.in_transaction(session, rec)

        rec, job_ids = self.svc.db.run(work)
        self.cb.after_commit(job_ids)
        entry = self._entry(path, earlier.status, _join(earlier.reason, self._kept(rec)), rec)
        entry.resumed = True
        return entry

    def _unreadable(self, path: Path, st: os.stat_result | None, reason: str) -> ReceiptEntry:
        def work(session: Session) -> None:
            session.add(self._sighting(path, st, None, UNREADABLE, reason))
            self.svc.ledger.append(
                session,
                actor=self.svc.actor,
                action="unreadable",
                subject=f"path:{shown_path(path)}",
                details={**self._source(path), "reason": reason},
            )

        self.svc.db.run(work)
        return ReceiptEntry(shown_path(path), UNREADABLE, reason, raw_path_hex=raw_path_hex(path))

    def _sighting(
        self,
        path: Path,
        st: os.stat_result | None,
        recording_id: str | None,
        status: str,
        reason: str | None,
    ) -> Sighting:
        return Sighting(
            run_id=self.run_id,
            recording_id=recording_id,
            source_path=shown_path(path),
            source_host=self.host,
            source_size=st.st_size if st else None,
            source_mtime_ns=st.st_mtime_ns if st else None,
            status=status,
            reason=reason,
            seen_at=datetime.now(UTC),
        )

    def _record(
        self, path: Path, st: os.stat_result, put: PutResult, changed: bool
    ) -> ReceiptEntry:
        sha = put.digests["sha256"]
        with self.svc.db.session() as session:
            existing = session.scalar(select(Recording).where(Recording.sha256 == sha))
        if existing is not None:
            return self._duplicate(path, st, existing, put)
        outcome = _classify(path, put, self._probe(put))
        if changed:
            outcome.reason = (
                "the file changed while it was read (still being written?); the bytes read "
                f"are stored and hashed; {outcome.reason or outcome.status}"
            )
            outcome.status = CHANGED
        rec = self._new_recording(path, put, outcome)
        try:
            job_ids = self.svc.db.run(lambda s: self._insert(s, path, st, rec, outcome))
        except IntegrityError:
            # Another ingest recorded the same bytes between our check and insert.
            with self.svc.db.session() as session:
                other = session.scalar(select(Recording).where(Recording.sha256 == sha))
            assert other is not None
            return self._duplicate(path, st, other, put, race=True)
        self.cb.after_commit(job_ids)
        if rec.status in (STORED, CHANGED) and rec.media_kind in ("video", "audio"):
            self.cb.on_new_recording(rec.id)
        return self._entry(path, outcome.status, outcome.reason, rec)

    def _probe(self, put: PutResult) -> ProbeResult | None:
        """Probe what was stored, not the source file (which another store never reads)."""
        if not put.size:
            return None
        try:
            with self.svc.store.local_path(put.key) as local:
                return probe(local)
        except (OSError, StorageError) as exc:
            return ProbeResult(False, f"the stored object could not be read back: {exc}")

    def _insert(
        self, session: Session, path: Path, st: os.stat_result, rec: Recording, outcome: _Outcome
    ) -> list[str]:
        session.add(rec)
        session.flush()
        session.add(self._sighting(path, st, rec.id, outcome.status, outcome.reason))
        self.svc.ledger.append(
            session,
            actor=self.svc.actor,
            action="acquired",
            subject=rec.id,
            details={
                **self._source(path),
                "size": rec.size,
                "sha256": rec.sha256,
                "sm3": rec.sm3,
                "object_key": rec.object_key,
                "status": outcome.status,
                "run_id": self.run_id,
                "case_no": rec.case_no,
                "collector": rec.collector,
                "location": rec.location,
            },
        )
        return self.cb.in_transaction(session, rec)

    def _kept(self, rec: Recording) -> str | None:
        """Stored once, a recording keeps the case it came with: say so, never drop --case."""
        asked = self.meta.case_no
        if not asked or asked == rec.case_no:
            return None
        kept = f"case {rec.case_no}" if rec.case_no else "no case"
        return (
            f"it keeps {kept}, not {asked}: to use it in {asked} too, run "
            f"`custos case link {rec.id[:8]} --step {asked}:STEP`"
        )

    def _duplicate(
        self, path: Path, st: os.stat_result, rec: Recording, put: PutResult, *, race: bool = False
    ) -> ReceiptEntry:
        reason = _join(f"same bytes as recording {rec.id} ({rec.original_name})", self._kept(rec))
        # A second copy is the moment to check the first: if it has rotted, this one is good.
        repair = None if race or rec.disposed_at is not None else self._check_copy(path, rec, put)
        if repair is not None:
            reason = f"{reason}; {repair.note}"

        def work(session: Session) -> list[str]:
            session.add(self._sighting(path, st, rec.id, DUPLICATE, reason))
            source = {**self._source(path), "run_id": self.run_id}
            checked: dict[str, object] = {}
            if not race and rec.disposed_at is None:
                # The stored copy was re-hashed against the digest it was recorded with.
                checked = {"stored_copy_ok": repair is None}
                if repair is not None:
                    checked["stored_copy_problem"] = repair.problem
            self.svc.ledger.append(
                session,
                actor=self.svc.actor,
                action="duplicate_sighting",
                subject=rec.id,
                details={**source, "sha256": rec.sha256, **checked},
            )
            if repair is not None:
                self.svc.ledger.append(
                    session,
                    actor=self.svc.actor,
                    action=repair.action,
                    subject=rec.id,
                    details={
                        **source,
                        "key": rec.object_key,
                        "problem": repair.problem,
                        "sha256": rec.sha256,
                        "size": rec.size,
                        **({"error": repair.error} if repair.error else {}),
                    },
                )
            return self.cb.in_transaction(session, rec)

        self.cb.after_commit(self.svc.db.run(work))
        return self._entry(path, DUPLICATE, reason, rec)

    def _check_copy(self, path: Path, rec: Recording, put: PutResult) -> _Repair | None:
        """Check the stored original against its recorded digest; repair it from `path`."""
        if put.created:
            # The object was gone; the write of this file's (verified) bytes put it back.
            problem = "object missing"
            return _Repair("original_repaired", problem, "the stored copy was missing; restored")
        problem = object_problem(self.svc.store, rec.object_key, rec.sha256, rec.sm3, rec.size)
        if not problem:
            return None
        # The damage is ledgered before anything is rewritten, so a kill during the repair
        # cannot leave a healed object with no trace of what was wrong with it.
        self.svc.record(
            "fixity_check",
            rec.id,
            {"key": rec.object_key, "ok": False, "problem": problem, "found_by": "duplicate"},
        )
        try:
            with path.open("rb", buffering=0) as handle:
                self.svc.store.repair(rec.object_key, handle, sha256=rec.sha256, size=rec.size)
        except (OSError, StorageError) as exc:
            note = f"the stored copy fails its fixity check ({problem}) and was not repaired: {exc}"
            return _Repair("original_repair_failed", problem, note, str(exc))
        note = f"the stored copy failed its fixity check ({problem}); repaired from this file"
        return _Repair("original_repaired", problem, note)

    def _capture_start(
        self, path: Path, result: ProbeResult | None
    ) -> tuple[datetime | None, str | None, str | None, tuple[str | None, str | None]]:
        info = parse_name(shown_path(path.name), self.patterns)
        start, source = None, None
        zone: tuple[str | None, str | None] = (None, None)
        if info.start is not None:
            zone = (self.zone.name, self.zone.basis)
            if info.start.tzinfo:
                start, zone = info.start, (offset_name(info.start), "recorded")
            else:
                start = info.start.replace(tzinfo=self.zone.tz)
            start, source = start.astimezone(UTC), "file_name"
        elif result is not None and result.creation_time is not None:
            zone = (offset_name(result.creation_time), "recorded")
            start, source = result.creation_time.astimezone(UTC), "container_tag"
        device = info.device_id or (result.device_id if result is not None else None)
        return start, source, device, zone

    def _new_recording(self, path: Path, put: PutResult, outcome: _Outcome) -> Recording:
        result = outcome.probe
        start, source, device, zone = self._capture_start(path, result)
        video = result.video if result else None
        meta = self.meta
        missing = [
            name
            for name, value in (
                ("case_no", meta.case_no),
                ("capture_time", start),
                ("location", meta.location),
                ("collector", meta.collector),
                ("proves", meta.proves),
            )
            if not value
        ]
        media_kind = (
            result.media_kind
            if result and result.playable
            else (outcome.sniffed.kind if outcome.sniffed else "other")
        )
        if media_kind == "empty":
            media_kind = "other"
        return Recording(
            id=str(uuid.uuid4()),
            sha256=put.digests["sha256"],
            sm3=put.digests.get("sm3"),
            size=put.size,
            object_key=put.key,
            original_name=shown_path(path.name),
            media_kind=media_kind,
            status=outcome.status,
            reason=outcome.reason,
            container=result.container if result else None,
            duration_s=result.duration_s if result else None,
            width=video.width if video else None,
            height=video.height if video else None,
            fps=video.fps if video else None,
            rotation=video.rotation if video else None,
            probe=result.to_json() if result else {},
            capture_start=start,
            capture_time_source=source,
            capture_zone=zone[0],
            capture_zone_basis=zone[1],
            device_id=device,
            device_kind=meta.device_kind,
            case_no=meta.case_no,
            step=meta.step,
            collector=meta.collector,
            location=meta.location,
            proves=meta.proves,
            incomplete=bool(missing),
            missing_fields=missing,
            ingested_at=datetime.now(UTC),
            ingested_by=self.svc.actor,
            legal_hold=False,
        )

    @staticmethod
    def _entry(path: Path, status: str, reason: str | None, rec: Recording) -> ReceiptEntry:
        return ReceiptEntry(
            path=shown_path(path),
            raw_path_hex=raw_path_hex(path),
            status=status,
            reason=reason,
            recording_id=rec.id,
            sha256=rec.sha256,
            sm3=rec.sm3,
            size=rec.size,
            duration_s=rec.duration_s,
            media_kind=rec.media_kind,
            capture_start=rec.capture_start.isoformat() if rec.capture_start else None,
            zone=describe(rec.capture_zone, rec.capture_zone_basis),
            device_id=rec.device_id,
            incomplete=rec.incomplete,
            missing=list(rec.missing_fields or []),
        )


def ingest(
    svc: Services, paths: list[Path], meta: CaptureMeta, callbacks: IngestCallbacks | None = None
) -> Receipt:
    """Ingest `paths` (files or folders) and return the custody receipt."""
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(map(shown_path, missing))}")
    receipt = Ingestor(svc, meta, callbacks).run(paths)
    receipt.write(svc.settings.data_dir / "receipts")
    return receipt


def _join(*notes: str | None) -> str | None:
    return "; ".join(n for n in notes if n) or None
