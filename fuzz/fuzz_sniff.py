"""Fuzz the content sniffer (ingest/sniff.py) and acquisition's classification of what it
sniffs: any head of a file gives a kind from the known set without an exception."""

from __future__ import annotations

import sys
from pathlib import Path

import _common  # noqa: F401 - puts the repository on sys.path
import atheris

# Dependencies first, uninstrumented (instrumenting SQLAlchemy and PyAV costs 20 s of
# start-up and finds nothing of ours); then the modules under test, instrumented.
import ingest.probe  # noqa: F401, I001
import storage.services  # noqa: F401

with atheris.instrument_imports():
    from ingest.acquire import _classify
    from ingest.probe import ProbeResult
    from ingest.sniff import sniff
    from storage.objects import PutResult

KINDS = {"video", "audio", "image", "other", "empty"}
STATUSES = {"stored", "unplayable", "not-media"}
SUFFIXES = (".mp4", ".MOV", ".txt", "", ".m3u8", ".png", ".ts", ".dav")


def check(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    suffix = SUFFIXES[fdp.ConsumeIntInRange(0, len(SUFFIXES) - 1)]
    playable = fdp.ConsumeBool()
    head = fdp.ConsumeBytes(70000)
    found = sniff(head)
    assert found.kind in KINDS, found
    assert (found.kind == "empty") == (not head), found
    put = PutResult("originals/sha256/00/00/x", len(head), {"sha256": "0" * 64}, True, head)
    probe = ProbeResult(playable, None if playable else "fuzzed")
    outcome = _classify(Path("clip" + suffix), put, probe)
    assert outcome.status in STATUSES, outcome
    if not head:
        assert outcome.status == "unplayable"
    elif outcome.status != "stored":
        assert outcome.reason, outcome


def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
