"""Reliability with real Redis and real worker processes (`custos worker`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ingest.sample_dump import make_clip
from tests.workers.redis_server import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def _env(tmp_path: Path, redis_url: str, db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    env.update(
        {
            "CUSTOS_DATA_DIR": str(tmp_path / "data"),
            "CUSTOS_DATABASE_URL": db_url,
            "CUSTOS_REDIS_URL": redis_url,
            "CUSTOS_WORKER_HEARTBEAT_S": "2",
            "CUSTOS_REDIS_MAINTENANCE_CHANCE": "300000",
            "CUSTOS_PIPELINE_STAGES": "normalise",
        }
    )
    return env


def _custos(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "api", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # The child keeps its own copy of the log's descriptor; ours is closed at once.
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "api",
                "worker",
                "--queues",
                "cpu",
                "--processes",
                "1",
                "--threads",
                "1",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _jobs(db_url: str) -> list[dict[str, object]]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM jobs"))]
    engine.dispose()
    return rows


def test_sigkilled_worker_job_is_completed_by_another(tmp_path: Path, postgres_url: str) -> None:
    redis = RedisServer(tmp_path / "redis", "--appendonly", "no").start()
    env = _env(tmp_path, redis.url, postgres_url)
    dump = tmp_path / "dump"
    dump.mkdir()
    # MPEG-2 at 1080p must be re-encoded (an H.264 source would only be remuxed, in
    # seconds), so the job is surely still running when its worker is killed.
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1920x1080:rate=25:duration=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=30",
            "-c:v",
            "mpeg2video",
            "-q:v",
            "4",
            "-c:a",
            "mp2",
            str(dump / "ch01_20261103_141500.mpg"),
        ],
        check=True,
        timeout=300,
    )
    workers: list[subprocess.Popen[bytes]] = []
    try:
        _custos(env, "ingest", str(dump), "--json")
        # Two worker hosts on the dump, as in production; the one running the job dies.
        workers.append(_worker(env, tmp_path / "w1.log"))
        workers.append(_worker(env, tmp_path / "w2.log"))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            running = [j for j in _jobs(postgres_url) if j["status"] == "running"]
            if running and float(str(running[0]["progress"])) > 0.05:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the normalise job never started: {_jobs(postgres_url)}")
        victim = str(running[0]["worker"])
        import psutil

        # The job names the dramatiq worker process; its parent is `custos worker`.
        host_pid = psutil.Process(int(victim.split(":")[1])).ppid()
        (dying,) = [w for w in workers if w.pid == host_pid]
        os.killpg(dying.pid, signal.SIGKILL)  # the whole worker host dies, ffmpeg included
        dying.wait()
        out = _custos(env, "jobs", "--wait", "--json", "--timeout", "400", timeout=450)
        (job,) = json.loads(out)
        assert job["status"] == "done", job
        assert job["attempts"] == 2
        assert job["worker"] != victim
        engine = create_engine(postgres_url)
        with engine.connect() as conn:
            keys = [r[0] for r in conn.execute(text("SELECT object_key FROM derivatives"))]
            derived = [
                json.loads(r[0])["key"]
                for r in conn.execute(
                    text("SELECT details FROM ledger_events WHERE action = 'derived'")
                )
            ]
            done_events = conn.execute(
                text("SELECT count(*) FROM ledger_events WHERE action = 'stage_done'")
            ).scalar()
        engine.dispose()
        assert keys and len(keys) == len(set(keys))  # exactly one set of outputs
        assert Counter(derived) == Counter(keys)  # one ledger event per output
        assert done_events == 1
        _custos(env, "ledger", "verify")
    finally:
        for proc in workers:
            _stop(proc)
        redis.kill()


def test_redis_restart_with_aof_loses_no_queued_job(tmp_path: Path, postgres_url: str) -> None:
    folder = tmp_path / "redis"
    aof = ("--appendonly", "yes", "--appendfsync", "always")
    redis = RedisServer(folder, *aof).start()
    env = _env(tmp_path, redis.url, postgres_url)
    dump = tmp_path / "dump"
    dump.mkdir()
    for i in range(3):
        make_clip(dump / f"BWC0042_2026110314{i:02d}00_{i:04d}.MP4", seconds=1.5, tone=300 + i)
    worker = None
    try:
        _custos(env, "ingest", str(dump), "--json")
        assert len(_jobs(postgres_url)) == 3
        redis.kill()  # SIGKILL: only what the append-only file holds survives
        port = redis.port
        redis = RedisServer(folder, *aof)
        redis.port = port
        redis.start()
        worker = _worker(env, tmp_path / "w.log")  # no --requeue: the queue itself must survive
        out = _custos(env, "jobs", "--wait", "--json", "--timeout", "240", timeout=300)
        assert [j["status"] for j in json.loads(out)] == ["done"] * 3
    finally:
        if worker is not None:
            _stop(worker)
        redis.kill()
