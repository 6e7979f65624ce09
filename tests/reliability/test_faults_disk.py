"""The data folder's disk fills up mid-ingest (a 24 MiB tmpfs the test mounts): files
that do not fit are reported, no half-written object is ever visible, and once there is
room the same command stores the rest; afterwards reconcile, ledger and fixity agree."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.reliability.aftermath import check_aftermath
from tests.reliability.faults import resize, small_filesystem
from tests.reliability.procs import custos, custos_env

pytestmark = pytest.mark.slow

FILES = 8
FILE_BYTES = 3 * 1024 * 1024


def _objects_ok(objects: Path) -> list[str]:
    """Every published original holds the bytes its address names; problems listed."""
    bad = []
    for path in (objects / "originals").rglob("*"):
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() != path.name:
            bad.append(path.name)
    leftovers = [p.name for p in (objects / "tmp").iterdir()] if (objects / "tmp").exists() else []
    return bad + [f"temp file left: {n}" for n in leftovers]


def test_disk_full_mid_ingest_loses_nothing(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    digests = {}
    for i in range(FILES):
        data = os.urandom(FILE_BYTES)
        name = f"BWC0042_202611031415{i:02d}_{i:04d}.bin"
        (dump / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    with small_filesystem(tmp_path / "mnt", 24) as mnt:
        env = custos_env(mnt / "data", pipeline_stages="")
        full = custos(env, "ingest", str(dump), "--json", timeout=120)
        assert full.rc != 0, "the disk never filled"
        assert "No space left" in full.stdout + full.stderr or "disk is full" in full.stderr, (
            full.stdout[-2000:] + full.stderr[-2000:])  # fmt: skip
        stored = "?"
        if full.rc == 3:  # finished, naming what did not fit
            files = json.loads(full.stdout)["files"]
            unstored = [f for f in files if f["status"] == "unreadable"]
            # The store's fault is named as the store's, never blamed on the source file.
            reasons = [f["reason"] for f in unstored]
            assert unstored and all(r.startswith("not stored: ") for r in reasons), reasons
            assert all("No space left" in r for r in reasons), reasons
            stored = str(len(files) - len(unstored))
        assert _objects_ok(mnt / "data" / "objects") == []
        print(f"figures: disk full: exit {full.rc}, {stored}/{FILES} stored before it filled")
        resize(mnt, 200)
        again = custos(env, "ingest", str(dump), "--json", timeout=120)
        assert again.rc == 0, again.stderr[-3000:]
        files = {Path(f["path"]).name: f for f in json.loads(again.stdout)["files"]}
        assert {n: f["sha256"] for n, f in files.items()} == digests
        assert {f["status"] for f in files.values()} == {"not-media"}
        assert _objects_ok(mnt / "data" / "objects") == []
        # Every original is under retention, also one whose marker the full disk refused.
        marks = {p.name for p in (mnt / "data" / "objects" / ".protection").iterdir()}
        for digest in digests.values():
            key = f"originals/sha256/{digest[:2]}/{digest[2:4]}/{digest}"
            assert key.replace("/", "~") + ".retain-until" in marks, key
        after = check_aftermath(env, wait_jobs=False)
        assert after.fixity_checked == FILES
