"""Races the load test found, pinned down: a local store's retention marker is never seen
half-written by a concurrent stat (two uploads anchoring the same ledger checkpoint)."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

from storage.objects.local import LocalObjectStore


def test_stat_never_sees_a_half_written_retention_marker(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    key = "ledger/checkpoints/00000000000000000001.json"
    store.put(key, io.BytesIO(b"{}"), worm=True)
    stop = time.monotonic() + 2.0
    failures: list[BaseException] = []

    def rewrite() -> None:
        while time.monotonic() < stop:
            store._set_retention(key)

    writer = threading.Thread(target=rewrite)
    writer.start()
    stats = 0
    try:
        while time.monotonic() < stop:
            try:
                info = store.stat(key)
            except ValueError as exc:  # '' is not an ISO date: the marker was half-written
                failures.append(exc)
                break
            assert info is not None and info.retain_until is not None
            stats += 1
    finally:
        writer.join()
    assert failures == [], f"after {stats} stats: {failures[0]!r}"
    assert stats > 100
