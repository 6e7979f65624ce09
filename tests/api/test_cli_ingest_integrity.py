"""`custos ingest` keeps its promises through a kill, a bad setting and odd file names.

Real subprocesses, as an evidence-room technician runs them (issue 10, items 1, 10, 13).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.sample_dump import make_clip

CLIPS = 6


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    env["CUSTOS_DATA_DIR"] = str(tmp_path / "data")
    env["CUSTOS_PIPELINE_STAGES"] = "normalise"  # job rows only: nothing here runs them
    env.update(extra)
    return env


def _custos(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _query(db: Path, sql: str) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return list(connection.execute(sql))
    finally:
        connection.close()


def _recordings_without_jobs(db: Path) -> list[tuple[object, ...]]:
    return _query(
        db,
        "SELECT r.original_name FROM recordings r LEFT JOIN jobs j ON j.recording_id = r.id "
        "WHERE r.status = 'stored' AND r.media_kind = 'video' AND j.id IS NULL",
    )


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("clips")
    return [
        make_clip(folder / f"BWC0042_2026110314{i:02d}00_{i:04d}.MP4", seconds=2.0, tone=300 + i)
        for i in range(CLIPS)
    ]


def test_sigkill_mid_ingest_then_rerun_every_recording_has_its_jobs(
    tmp_path: Path, clips: list[Path]
) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    for clip in clips:
        (dump / clip.name).write_bytes(clip.read_bytes())
        # Between clips, a large attachment, so the ingest is still busy when it is killed.
        (dump / f"{clip.stem}.bin").write_bytes(os.urandom(48 * 1024 * 1024))
    env = _env(tmp_path, CUSTOS_INGEST_READERS="1")
    cmd = [sys.executable, "-m", "api", "ingest", str(dump), "--case", "C-1", "--json"]
    db = tmp_path / "data" / "custos.db"
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    stored = 0
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline and proc.poll() is None and stored < 2:
            time.sleep(0.05)
            try:
                stored = len(_query(db, "SELECT id FROM recordings WHERE media_kind = 'video'"))
            except sqlite3.Error:
                continue  # not created or not migrated yet
        assert proc.poll() is None, "the ingest finished before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    videos = _query(db, "SELECT id FROM recordings WHERE media_kind = 'video'")
    assert 2 <= len(videos) < CLIPS
    # Killed mid-run: every recording stored so far already has its job.
    assert _recordings_without_jobs(db) == []
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    receipt = json.loads(rerun.stdout)
    assert len(receipt["files"]) == 2 * CLIPS
    assert _recordings_without_jobs(db) == []
    per_recording = _query(
        db,
        "SELECT r.original_name, count(j.id), min(j.sent_at IS NOT NULL) FROM recordings r "
        "JOIN jobs j ON j.recording_id = r.id GROUP BY r.id",
    )
    assert sorted(per_recording) == sorted((clip.name, 1, 1) for clip in clips)
    listed = _custos(env, "jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(j["recording_name"] for j in json.loads(listed.stdout)) == sorted(
        clip.name for clip in clips
    )


def test_no_process_ingest_gets_its_jobs_at_the_next_start(
    tmp_path: Path, clips: list[Path]
) -> None:
    env = _env(tmp_path)
    done = _custos(env, "ingest", str(clips[0]), str(clips[1]), "--no-process", "--json")
    assert done.returncode == 0, done.stderr
    db = tmp_path / "data" / "custos.db"
    assert len(_recordings_without_jobs(db)) == 2
    listed = _custos(env, "jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "created 2 missing job(s)" in listed.stderr
    assert len(json.loads(listed.stdout)) == 2
    assert _recordings_without_jobs(db) == []


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("CUSTOS_PIPELINE_STAGES", "normalise,ocr", "ocr"),
        ("CUSTOS_LOCAL_TIMEZONE", "Asia/Shangai", "Asia/Shangai"),
        ("CUSTOS_INGEST_READERS", "0", "CUSTOS_INGEST_READERS"),
    ],
)
def test_a_bad_setting_stops_the_ingest_before_the_first_byte(
    tmp_path: Path, clips: list[Path], setting: str, value: str, named: str
) -> None:
    env = _env(tmp_path, **{setting: value})
    done = _custos(env, "ingest", str(clips[0]), str(clips[1]))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and setting in lines[0] and named in lines[0], done.stderr
    originals = tmp_path / "data" / "objects" / "originals"
    assert not originals.exists() or not any(p.is_file() for p in originals.rglob("*"))
    # Fixed, the same command stores everything and every recording gets its jobs.
    env.pop(setting)
    again = _custos(env, "ingest", str(clips[0]), str(clips[1]), "--json")
    assert again.returncode == 0, again.stderr
    assert _recordings_without_jobs(tmp_path / "data" / "custos.db") == []


def test_a_bad_filename_patterns_file_stops_the_ingest_before_the_first_byte(
    tmp_path: Path, clips: list[Path]
) -> None:
    patterns = tmp_path / "patterns.yaml"
    patterns.write_text("- '(?P<device>[unclosed'\n")
    env = _env(tmp_path, CUSTOS_FILENAME_PATTERNS_FILE=str(patterns))
    done = _custos(env, "ingest", str(clips[0]))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "CUSTOS_FILENAME_PATTERNS_FILE" in done.stderr and "nothing was read" in done.stderr
    assert not (tmp_path / "data" / "objects" / "originals").exists()


GBK_NAME = b"\xd6\xb4\xb7\xa8_DSJ01_20261103141800_0001.mpg"  # "执法_DSJ01_..." in GBK


def test_a_gbk_file_name_does_not_stop_the_dump(tmp_path: Path, clips: list[Path]) -> None:
    card = tmp_path / "card"
    card.mkdir()
    gbk = os.fsencode(card) + b"/" + GBK_NAME
    with open(gbk, "wb") as out:
        out.write(clips[0].read_bytes())
    (card / clips[1].name).write_bytes(clips[1].read_bytes())
    env = _env(tmp_path)
    done = _custos(env, "ingest", str(card), "--json")
    assert done.returncode == 0, done.stderr
    receipt = json.loads(done.stdout)
    assert [f["status"] for f in receipt["files"]] == ["stored", "stored"]
    shown = next(f for f in receipt["files"] if f["raw_path_hex"])
    assert shown["path"] == f"{card}/执法_DSJ01_20261103141800_0001.mpg"
    assert bytes.fromhex(shown["raw_path_hex"]) == gbk
    # The table prints the decoded name (on a line wide enough not to fold it).
    table = _custos({**env, "COLUMNS": "300"}, "ingest", str(card))
    assert table.returncode == 0, table.stderr
    assert "执法_DSJ01" in table.stdout
    assert _custos(env, "ledger", "verify").returncode == 0
    assert _recordings_without_jobs(tmp_path / "data" / "custos.db") == []
