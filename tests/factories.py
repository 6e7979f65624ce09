"""Recording rows for tests that need one without going through ingest."""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.db.schema import Recording
from storage.objects import ObjectStore
from storage.objects.hashing import original_key
from storage.services import Services


def make_recording(
    store: ObjectStore | None, source: Path | bytes | None = None, **fields: Any
) -> Recording:
    """A Recording (not yet added to a session).

    With `store` and `source`, the bytes are stored as a real original; with bytes and no
    `store`, only their digest is used; with neither, the row points at no object.
    """
    rec_id = fields.pop("id", None) or str(uuid.uuid4())
    name = fields.pop("original_name", None)
    if isinstance(source, Path):
        name = name or source.name
        data: bytes | None = None
    else:
        data = source
    if store is not None and source is not None:
        with source.open("rb") if isinstance(source, Path) else io.BytesIO(source) as handle:
            put = store.put_content_addressed(handle)
        sha, size, key = put.digests["sha256"], put.size, put.key
    elif data is not None:
        sha, size = hashlib.sha256(data).hexdigest(), len(data)
        key = original_key(sha)
    else:
        sha, size, key = uuid.uuid4().hex + uuid.uuid4().hex, 0, f"originals/none/{rec_id}"
    values: dict[str, Any] = {
        "id": rec_id,
        "sha256": sha,
        "size": size,
        "object_key": key,
        "original_name": name or f"{rec_id[:8]}.mp4",
        "media_kind": "video",
        "status": "stored",
        "ingested_at": datetime.now(UTC),
        "ingested_by": "tester",
    }
    values.update(fields)
    return Recording(**values)


def add_recording(svc: Services, source: Path | bytes | None = None, **fields: Any) -> str:
    """Store `source` (if given) and insert its Recording row; returns the id."""
    rec = make_recording(svc.store, source, **fields)
    svc.db.run(lambda session: session.add(rec))
    return rec.id
