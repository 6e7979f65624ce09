"""The custody commands as an evidence-room technician runs them, in a real subprocess."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.sample_dump import make_sample_dump


def _custos(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def ingested(tmp_path: Path) -> tuple[dict[str, str], dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    env["CUSTOS_DATA_DIR"] = str(tmp_path / "data")
    env["CUSTOS_DIGESTS"] = "sha256,sm3"
    dump = tmp_path / "dump"
    make_sample_dump(dump, seconds=1.0)
    done = _custos(
        env,
        "ingest",
        str(dump),
        "--case",
        "C-7",
        "--collector",
        "PC Wang",
        "--location",
        "Gate 3",
        "--proves",
        "entry",
        "--json",
        "--no-process",
    )
    assert done.returncode == 0, done.stderr
    return env, json.loads(done.stdout)


def test_receipt_json_and_csv(ingested: tuple[dict[str, str], dict[str, object]]) -> None:
    env, receipt = ingested
    files = receipt["files"]
    assert isinstance(files, list) and len(files) == 8
    assert receipt["counts"] == {
        "stored": 3,
        "duplicate": 1,
        "unplayable": 3,
        "not-media": 1,
        "changed-during-read": 0,
        "unreadable": 0,
    }
    assert all(f["sm3"] for f in files)
    receipt_csv = Path(env["CUSTOS_DATA_DIR"]) / "receipts" / f"receipt-{receipt['run_id']}.csv"
    with receipt_csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["sha256"] for r in rows] == [f["sha256"] for f in files]
    head = receipt["ledger_head"]
    assert isinstance(head, dict) and head["object_key"] == (
        f"ledger/checkpoints/{head['seq']:020d}.json"
    )
    anchored = Path(env["CUSTOS_DATA_DIR"]) / "objects" / head["object_key"]
    assert json.loads(anchored.read_text())["hash"] == head["hash"]
    assert {r["ledger_head"] for r in rows} == {
        f"{head['seq']}:{head['hash']}:{head['object_key']}"
    }
    assert _custos(env, "ledger", "verify").returncode == 0
    assert _custos(env, "fixity").returncode == 0


def test_altered_ledger_row_fails_verify(
    ingested: tuple[dict[str, str], dict[str, object]],
) -> None:
    env, _ = ingested
    db = sqlite3.connect(Path(env["CUSTOS_DATA_DIR"]) / "custos.db")
    with db:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE ledger_events SET actor = 'mallory' WHERE seq = 3")
    with db:
        db.execute("DROP TRIGGER ledger_events_no_update")
        db.execute("UPDATE ledger_events SET actor = 'mallory' WHERE seq = 3")
    db.close()
    done = _custos(env, "ledger", "verify")
    assert done.returncode == 1
    assert "event 3" in done.stderr


def test_altered_original_fails_fixity(ingested: tuple[dict[str, str], dict[str, object]]) -> None:
    env, receipt = ingested
    files = receipt["files"]
    assert isinstance(files, list)
    victim = next(f for f in files if f["status"] == "stored")
    sha = victim["sha256"]
    path = (
        Path(env["CUSTOS_DATA_DIR"]) / "objects" / "originals" / "sha256" / sha[:2] / sha[2:4] / sha
    )
    assert not os.access(path, os.W_OK) or os.geteuid() == 0  # read-only on disk
    assert oct(path.stat().st_mode & 0o777) == "0o444"
    path.chmod(0o644)
    with path.open("r+b") as handle:
        handle.seek(100)
        handle.write(b"\xff")
    done = _custos(env, "fixity", "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert [f["recording_id"] for f in report["failures"]] == [victim["recording_id"]]
    assert "sha256" in report["failures"][0]["problem"]
    shown = _custos(env, "ledger", "show", "--subject", str(victim["recording_id"]), "--json")
    actions = [e["action"] for e in json.loads(shown.stdout)]
    assert actions[0] == "acquired" and actions.count("fixity_check") == 1


def test_bad_input_gets_clear_errors(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    env["CUSTOS_DATA_DIR"] = str(tmp_path / "data")
    missing = _custos(env, "ingest", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    kind = _custos(env, "ingest", str(tmp_path), "--device-kind", "drone")
    assert kind.returncode == 2 and "device kind" in kind.stderr
    typo = _custos({**env, "CUSTOS_DIGEST": "sm3"}, "ledger", "verify")
    assert typo.returncode == 2 and "CUSTOS_DIGESTS" in typo.stderr


def test_ledger_rewritten_from_genesis_fails_verify(
    ingested: tuple[dict[str, str], dict[str, object]],
) -> None:
    """Triggers dropped, checkpoint rows deleted, the whole chain recomputed in SQL terms."""
    from storage.ledger import GENESIS_HASH, event_hash

    env, receipt = ingested
    db = sqlite3.connect(Path(env["CUSTOS_DATA_DIR"]) / "custos.db")
    with db:
        for name in ("update", "delete"):
            db.execute(f"DROP TRIGGER ledger_events_no_{name}")
            db.execute(f"DROP TRIGGER ledger_checkpoints_no_{name}")
        rows = db.execute(
            "SELECT seq, ts, actor, action, subject, details FROM ledger_events ORDER BY seq"
        ).fetchall()
        db.execute("DELETE FROM ledger_checkpoints")
        db.execute("DELETE FROM ledger_events")
        prev = GENESIS_HASH
        for seq, ts, actor, action, subject, details in rows:
            actor = "mallory" if seq == 2 else actor
            digest = event_hash(seq, ts, actor, action, subject, details, prev)
            db.execute(
                "INSERT INTO ledger_events (seq, ts, actor, action, subject, details, "
                "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, ts, actor, action, subject, details, prev, digest),
            )
            prev = digest
    db.close()
    done = _custos(env, "ledger", "verify")
    assert done.returncode == 1
    head = receipt["ledger_head"]
    assert isinstance(head, dict) and str(head["object_key"]) in done.stderr


def test_missing_key_fails_verify_and_ingest(
    ingested: tuple[dict[str, str], dict[str, object]], tmp_path: Path
) -> None:
    env, _ = ingested
    key_file = Path(env["CUSTOS_DATA_DIR"]) / "keys" / "ledger-ed25519.pem"
    key_file.unlink()
    done = _custos(env, "ledger", "verify")
    assert done.returncode == 1
    assert "signing key missing" in done.stderr
    assert not key_file.exists()
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "a.mp4").write_bytes(b"not really")
    refused = _custos(env, "ingest", str(tmp_path / "more"), "--no-process")
    assert refused.returncode == 2 and "nothing was read" in refused.stderr
    assert not key_file.exists()
    keygen = _custos(env, "ledger", "keygen")
    assert keygen.returncode == 1 and "already has signed checkpoints" in keygen.stderr
    assert not key_file.exists()


def test_keygen_on_a_separate_mount_and_a_verify_only_host(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    env["CUSTOS_DATA_DIR"] = str(tmp_path / "data")
    env["CUSTOS_LEDGER_KEY_FILE"] = str(tmp_path / "mount" / "ledger.pem")
    env["CUSTOS_LEDGER_KEY_PASSPHRASE"] = "from a secret store"
    made = _custos(env, "ledger", "keygen")
    assert made.returncode == 0, made.stderr
    key_file = tmp_path / "mount" / "ledger.pem"
    assert b"ENCRYPTED PRIVATE KEY" in key_file.read_bytes()
    public = made.stdout.split("CUSTOS_LEDGER_PUBLIC_KEY=")[1].split()[0]
    assert len(public) == 64
    again = _custos(env, "ledger", "keygen")
    assert again.returncode == 1 and "already exists" in again.stderr
    assert _custos(env, "ledger", "checkpoint").returncode == 0
    assert not (tmp_path / "data" / "keys").exists()
    verify_only = {k: v for k, v in env.items() if "KEY" not in k}
    verify_only["CUSTOS_LEDGER_PUBLIC_KEY"] = public
    done = _custos(verify_only, "ledger", "verify")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "data" / "keys").exists()
