"""Fixity: re-hash every stored original and compare with the digest recorded at acquisition."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from storage.db.schema import Recording
from storage.errors import ObjectNotFound, StorageError
from storage.objects import ObjectStore
from storage.services import Services


@dataclass(frozen=True)
class FixityFailure:
    recording_id: str
    key: str
    problem: str


@dataclass
class FixityReport:
    checked: int = 0
    failures: list[FixityFailure] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"checked": self.checked, "failures": [asdict(f) for f in self.failures]}


def object_problem(store: ObjectStore, key: str, sha256: str, sm3: str | None, size: int) -> str:
    """What is wrong with the object at `key` against its recorded digests; "" if nothing."""
    names = ("sha256", "sm3") if sm3 else ("sha256",)
    try:
        got, got_size = store.read_digests(key, names)
    except (ObjectNotFound, FileNotFoundError):
        return "object missing"
    except (OSError, StorageError) as exc:
        return f"cannot read: {exc}"
    if got["sha256"] != sha256:
        return f"sha256 {got['sha256']} != recorded {sha256}"
    if sm3 and got.get("sm3") != sm3:
        return f"sm3 {got.get('sm3')} != recorded {sm3}"
    if got_size != size:
        return f"size {got_size} != recorded {size}"
    return ""


def fixity(svc: Services) -> FixityReport:
    report = FixityReport()
    with svc.db.session() as session:
        rows = list(
            session.execute(
                select(
                    Recording.id,
                    Recording.object_key,
                    Recording.sha256,
                    Recording.sm3,
                    Recording.size,
                ).where(Recording.disposed_at.is_(None))
            )
        )
    for rec_id, key, sha256, sm3, size in rows:
        problem = object_problem(svc.store, key, sha256, sm3, size)
        report.checked += 1
        ok = not problem
        if not ok:
            report.failures.append(FixityFailure(rec_id, key, problem))
        svc.record("fixity_check", rec_id, {"key": key, "ok": ok, "problem": problem or None})
    return report
