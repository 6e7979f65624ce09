"""Fixity: re-hash every stored original and compare with the digest recorded at acquisition."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from storage.db.schema import Recording
from storage.errors import ObjectNotFound
from storage.objects.hashing import MultiHasher
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
    names = ("sha256", "sm3") if any(r.sm3 for r in rows) else ("sha256",)
    for rec_id, key, sha256, sm3, size in rows:
        hasher = MultiHasher(names)
        try:
            with svc.store.open(key) as handle:
                while chunk := handle.read(svc.store.chunk_size):
                    hasher.update(chunk)
        except (ObjectNotFound, FileNotFoundError):
            problem = "object missing"
        except OSError as exc:
            problem = f"cannot read: {exc}"
        else:
            got = hasher.hexdigests()
            problem = ""
            if got["sha256"] != sha256:
                problem = f"sha256 {got['sha256']} != recorded {sha256}"
            elif sm3 and got.get("sm3") != sm3:
                problem = f"sm3 {got.get('sm3')} != recorded {sm3}"
            elif hasher.size != size:
                problem = f"size {hasher.size} != recorded {size}"
        report.checked += 1
        ok = not problem
        if not ok:
            report.failures.append(FixityFailure(rec_id, key, problem))
        svc.record("fixity_check", rec_id, {"key": key, "ok": ok, "problem": problem or None})
    return report
