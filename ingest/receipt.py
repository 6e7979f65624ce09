"""The custody receipt: one row per file seen by an ingest run."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from storage.ledger import LedgerHead

# Statuses a file can end in. Everything except `unreadable` is stored and hashed.
STORED = "stored"
DUPLICATE = "duplicate"
UNPLAYABLE = "unplayable"
NOT_MEDIA = "not-media"
CHANGED = "changed-during-read"
UNREADABLE = "unreadable"
STATUSES = (STORED, DUPLICATE, UNPLAYABLE, NOT_MEDIA, CHANGED, UNREADABLE)


@dataclass
class ReceiptEntry:
    path: str
    status: str
    reason: str | None = None
    recording_id: str | None = None
    sha256: str | None = None
    sm3: str | None = None
    size: int | None = None
    duration_s: float | None = None
    media_kind: str | None = None
    capture_start: str | None = None
    zone: str | None = None  # the zone capture_start was read in, and why that one
    device_id: str | None = None
    incomplete: bool = False
    missing: list[str] = field(default_factory=list)
    resumed: bool = False  # stored by an earlier, interrupted run of the same dump
    # The path's exact bytes (hex) when they are not UTF-8; `path` shows them decoded
    # (UTF-8, else GB18030), e.g. a GBK name written by a Windows card reader.
    raw_path_hex: str | None = None


@dataclass
class Receipt:
    run_id: str
    started_at: str
    finished_at: str | None
    actor: str
    host: str
    entries: list[ReceiptEntry]
    ledger_head: LedgerHead | None = None  # the checkpoint signed and anchored at the end

    def counts(self) -> dict[str, int]:
        out = {status: 0 for status in STATUSES}
        for entry in self.entries:
            out[entry.status] = out.get(entry.status, 0) + 1
        return out

    @property
    def ok(self) -> bool:
        """False when some file could not be read at all."""
        return all(e.status != UNREADABLE for e in self.entries)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "actor": self.actor,
            "host": self.host,
            "counts": self.counts(),
            "ledger_head": None if self.ledger_head is None else self.ledger_head.to_json(),
            "files": [asdict(e) for e in self.entries],
        }

    def csv_text(self) -> str:
        """One row per file, with the ledger head the run ended on."""
        out = io.StringIO(newline="")
        names = [f.name for f in fields(ReceiptEntry)] + ["ledger_head"]
        head = "" if self.ledger_head is None else self.ledger_head.label
        writer = csv.DictWriter(out, fieldnames=names)
        writer.writeheader()
        for entry in self.entries:
            row = asdict(entry)
            row["missing"] = ";".join(entry.missing)
            row["ledger_head"] = head
            writer.writerow(row)
        return out.getvalue()

    def write(self, folder: Path) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        csv_path = folder / f"receipt-{self.run_id}.csv"
        json_path = folder / f"receipt-{self.run_id}.json"
        csv_path.write_text(self.csv_text(), encoding="utf-8", newline="")
        json_path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False))
        return csv_path, json_path
