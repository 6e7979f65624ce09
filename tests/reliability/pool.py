"""Worker processes for fault tests: start `custos worker`, stop it, watch the jobs table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.reliability.procs import REPO


def mpeg2(path: Path, seconds: int) -> Path:
    """MPEG-2 must be re-encoded (H.264 would only be remuxed), so a job surely runs long
    enough to be killed in the middle."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
         f"testsrc2=size=1280x720:rate=25:duration={seconds}", "-f", "lavfi", "-i",
         f"sine=frequency=440:duration={seconds}", "-c:v", "mpeg2video", "-q:v", "4",
         "-c:a", "mp2", str(path)],
        check=True, timeout=300,
    )  # fmt: skip
    return path


def worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "api", "worker", "--queues", "cpu", "--processes", "1",
             "--threads", "1"],
            env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def rows(db_url: str, query: str) -> list[dict[str, object]]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text(query))]
    engine.dispose()
    return rows


def running(db_url: str, timeout_s: float = 180) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        running = [j for j in rows(db_url, "SELECT * FROM jobs") if j["status"] == "running"]
        if running and float(str(running[0]["progress"])) > 0.05:
            return running[0]
        time.sleep(0.2)
    pytest.fail(f"no job started: {rows(db_url, 'SELECT * FROM jobs')}")
