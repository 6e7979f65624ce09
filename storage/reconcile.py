"""Reconcile the object store with the database: orphans adopted or quarantined, and
every row that names a missing object reported.

Faults leave two kinds of disagreement. An object with no row: a writer died after the
object was published and before its transaction committed (a killed ingest, a database
that went away mid-batch, a stage killed between writing an output and recording it).
A row with no object: the store lost it (a disk, a bucket policy, a person).

- An orphan original (`originals/sha256/..`) whose bytes hash to its address is evidence
  that arrived and was never recorded: it is adopted (the `adopt` callback, which ingest
  provides, records it as a recording and ledgers it). One whose bytes do not match is
  copied to `quarantine/` and named; under retention it also stays where it is.
- Every other orphan (outputs, exports, anything unknown) is moved to `quarantine/<key>`
  (copied, checked, then deleted), so nothing that no row vouches for is ever served,
  and nothing is destroyed either.
- Objects younger than `min_age_s` are left alone: a writer may still be committing.
- `ledger/` holds the checkpoint anchors; `custos ledger verify` judges them.

Which columns name objects is read from the live database (every `object_key` and
`*_key` text column), so a table added later is covered without a change here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import MetaData, String, Table, select
from sqlalchemy.orm import Session

from storage.db.schema import Recording
from storage.errors import ObjectExists, ObjectLocked, ObjectNotFound, StorageError
from storage.ledger import CHECKPOINT_PREFIX
from storage.services import Services

ORIGINALS = "originals/sha256/"
QUARANTINE = "quarantine/"
# Text columns ending in `_key` that do not name objects.
_NOT_OBJECT_KEYS = frozenset({"key_id", "idempotency_key", "stage_key"})

# adopt(svc, key, digests, size) -> recording id: records an orphan original.
Adopt = Callable[[Services, str, dict[str, str], int], str]


@dataclass(frozen=True)
class Reference:
    table: str
    column: str
    row: str  # primary key, as text
    key: str


@dataclass
class Orphan:
    key: str
    size: int
    kind: str  # original | derived | other
    action: str  # adopted | quarantined | quarantined-in-place | too-new | listed
    detail: str = ""
    recording_id: str | None = None


@dataclass
class ReconcileReport:
    objects: int = 0
    referenced: int = 0
    orphans: list[Orphan] = field(default_factory=list)
    missing: list[Reference] = field(default_factory=list)  # rows naming absent objects
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """Nothing points at a missing object and no orphan is left unhandled."""
        unhandled = [o for o in self.orphans if o.action in ("listed", "failed")]
        return not self.missing and not unhandled

    def to_json(self) -> dict[str, Any]:
        return {
            "objects": self.objects,
            "referenced": self.referenced,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "orphans": [asdict(o) for o in self.orphans],
            "missing": [asdict(m) for m in self.missing],
        }


def _key_columns(table: Table) -> list[str]:
    return [
        c.name
        for c in table.columns
        if isinstance(c.type, String)
        and (c.name == "object_key" or c.name.endswith("_key"))
        and c.name not in _NOT_OBJECT_KEYS
    ]


def references(session: Session) -> tuple[list[Reference], set[str]]:
    """Every (row, key) the database holds, and the keys it no longer needs present
    (disposed recordings' objects and what their disposals delete)."""
    meta = MetaData()
    meta.reflect(bind=session.connection())
    disposed = {
        rid
        for (rid,) in session.execute(
            select(Recording.id).where(Recording.disposed_at.is_not(None))
        )
    }
    refs: list[Reference] = []
    may_be_gone: set[str] = set()
    for table in meta.sorted_tables:
        columns = _key_columns(table)
        if not columns:
            continue
        pk = [c for c in table.primary_key.columns] or list(table.columns)[:1]
        wanted = [*pk, *(table.c[name] for name in columns)]
        has_rec = "recording_id" in table.c
        if has_rec:
            wanted.append(table.c["recording_id"])
        if table.name == "recordings":
            wanted.append(table.c["disposed_at"])
        for row in session.execute(select(*wanted)):
            values = row._mapping
            row_id = ",".join(str(values[c.name]) for c in pk)
            gone = (
                table.name == "disposals"
                or (has_rec and values["recording_id"] in disposed)
                or (table.name == "recordings" and values["disposed_at"] is not None)
            )
            for name in columns:
                key = values[name]
                if not key:
                    continue
                refs.append(Reference(table.name, name, row_id, str(key)))
                if gone:
                    may_be_gone.add(str(key))
        if table.name == "disposals" and "pending_keys" in table.c:
            for (keys,) in session.execute(select(table.c["pending_keys"])):
                may_be_gone.update(str(k) for k in (keys or []))
    return refs, may_be_gone


def _kind(key: str) -> str:
    if key.startswith(ORIGINALS):
        return "original"
    if key.startswith("derived/"):
        return "derived"
    return "other"


def _digests(svc: Services, key: str) -> tuple[dict[str, str], int]:
    names = tuple(dict.fromkeys(("sha256", *svc.store.digests)))
    return svc.store.read_digests(key, names)


def _copy_to_quarantine(svc: Services, key: str) -> str:
    """Copy `key` under quarantine/, checked; returns the quarantine key."""
    target = QUARANTINE + key
    want, size = _digests(svc, key)
    try:
        with svc.store.open(key) as src:
            put = svc.store.put(target, src)
    except ObjectExists:
        got, got_size = _digests(svc, target)
        if (got["sha256"], got_size) != (want["sha256"], size):
            raise StorageError(f"{target} exists and holds other bytes") from None
        return target
    if (put.digests["sha256"], put.size) != (want["sha256"], size):
        raise StorageError(f"the quarantine copy of {key} does not match it")
    return target


def reconcile(
    svc: Services,
    *,
    adopt: Adopt | None = None,
    dry_run: bool = False,
    min_age_s: float = 3600.0,
    now: datetime | None = None,
) -> ReconcileReport:
    now = now or datetime.now(UTC)
    report = ReconcileReport(dry_run=dry_run)
    with svc.db.session() as session:
        refs, may_be_gone = references(session)
    referenced = {r.key for r in refs}
    report.referenced = len(referenced)
    listed = [k for k in svc.store.list("") if not k.startswith(QUARANTINE)]
    report.objects = len(listed)
    present = set(listed)
    report.missing = [
        r for r in refs if r.key not in present and r.key not in may_be_gone
        and not svc.store.exists(r.key)  # listed a moment ago: written since?
    ]  # fmt: skip
    for key in listed:
        if key in referenced or key.startswith(CHECKPOINT_PREFIX):
            continue
        info = svc.store.stat(key)
        if info is None:  # gone since the listing
            continue
        orphan = Orphan(key, info.size, _kind(key), "listed")
        report.orphans.append(orphan)
        if info.modified is not None and now - info.modified < timedelta(seconds=min_age_s):
            orphan.action, orphan.detail = "too-new", f"written at {info.modified.isoformat()}"
            continue
        if dry_run:
            continue
        try:
            _settle(svc, orphan, adopt)
        except (OSError, StorageError, ValueError) as exc:
            orphan.action, orphan.detail = "failed", f"{type(exc).__name__}: {exc}"
    if not dry_run and (report.orphans or report.missing):
        svc.record("reconcile", "store", _summary(report))
    return report


def _settle(svc: Services, orphan: Orphan, adopt: Adopt | None) -> None:
    key = orphan.key
    if orphan.kind == "original":
        digests, size = _digests(svc, key)
        address = key.rsplit("/", 1)[-1]
        if digests["sha256"] == address and adopt is not None:
            orphan.recording_id = adopt(svc, key, digests, size)
            orphan.action = "adopted"
            orphan.detail = f"sha256 matches its address; recorded as {orphan.recording_id}"
            return
        why = "no adopter given" if digests["sha256"] == address else (
            f"bytes hash to {digests['sha256']}, not to its address")  # fmt: skip
        target = _copy_to_quarantine(svc, key)
        try:
            svc.store.delete(key)
        except ObjectLocked as exc:
            orphan.action = "quarantined-in-place"
            orphan.detail = f"{why}; copied to {target}; the original stays ({exc})"
        else:
            orphan.action, orphan.detail = "quarantined", f"{why}; moved to {target}"
        _ledger(svc, orphan)
        return
    target = _copy_to_quarantine(svc, key)
    try:
        svc.store.delete(key)
    except ObjectNotFound:
        pass
    except ObjectLocked as exc:
        orphan.action = "quarantined-in-place"
        orphan.detail = f"no row refers to it; copied to {target}; it stays ({exc})"
        _ledger(svc, orphan)
        return
    orphan.action, orphan.detail = "quarantined", f"no row refers to it; moved to {target}"
    _ledger(svc, orphan)


def _ledger(svc: Services, orphan: Orphan) -> None:
    svc.record(
        "orphan_quarantined",
        f"object:{orphan.key}",
        {"key": orphan.key, "size": orphan.size, "kind": orphan.kind,
         "action": orphan.action, "detail": orphan.detail},
    )  # fmt: skip


def _summary(report: ReconcileReport) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for o in report.orphans:
        counts[o.action] = counts.get(o.action, 0) + 1
    return {
        "objects": report.objects,
        "referenced": report.referenced,
        "orphans": counts,
        "missing": [f"{m.table}.{m.column}[{m.row}] -> {m.key}" for m in report.missing[:100]],
        "missing_count": len(report.missing),
    }


__all__ = ["ORIGINALS", "QUARANTINE", "Orphan", "ReconcileReport", "Reference", "reconcile"]
