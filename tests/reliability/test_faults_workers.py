"""Real worker processes on a Redis of the test's own: a worker host SIGKILLed mid-stage
(ffmpeg included), and Redis SIGKILLed and restarted (AOF) while jobs run and wait.
After each, every job ends done (or failed with a reason), and reconcile, ledger and
fixity agree; the killed job's outputs exist exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from ingest.sample_dump import make_clip
from tests.reliability.aftermath import check_aftermath
from tests.reliability.pool import mpeg2 as _mpeg2
from tests.reliability.pool import rows as _rows
from tests.reliability.pool import running as _running
from tests.reliability.pool import stop as _stop
from tests.reliability.pool import worker as _worker
from tests.reliability.procs import custos, custos_env
from tests.workers.redis_server import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


def _env(tmp_path: Path, redis: RedisServer, db_url: str) -> dict[str, str]:
    return custos_env(tmp_path / "data", database_url=db_url, redis_url=redis.url,
                      worker_heartbeat_s="2", redis_maintenance_chance="300000",
                      pipeline_stages="normalise")  # fmt: skip


def test_worker_sigkilled_mid_stage(tmp_path: Path, postgres_url: str) -> None:
    redis = RedisServer(tmp_path / "redis", "--appendonly", "yes").start()
    dump = tmp_path / "dump"
    dump.mkdir()
    _mpeg2(dump / "ch01_20261103_141500.mpg", 12)
    make_clip(dump / "BWC0042_20261103141500_0001.MP4", seconds=1.0)
    env = _env(tmp_path, redis, postgres_url)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        assert custos(env, "ingest", str(dump), "--json").rc == 0
        workers = [_worker(env, tmp_path / f"w{i}.log") for i in (1, 2)]
        victim = _running(postgres_url)
        host = psutil.Process(int(str(victim["worker"]).split(":")[1])).ppid()
        (dying,) = [w for w in workers if w.pid == host]
        os.killpg(dying.pid, signal.SIGKILL)  # the whole host: worker, ffmpeg and all
        dying.wait()
        killed_at = time.monotonic()
        after = check_aftermath(env)
        print(
            f"figures: worker SIGKILL mid-stage: {len(after.jobs)} jobs done, the killed one "
            f"taken over and finished {time.monotonic() - killed_at:.1f} s after the kill"
        )
        by_id = {j["id"]: j for j in after.jobs}
        job = by_id[victim["id"]]
        assert job["status"] == "done" and job["attempts"] >= 2
        assert job["worker"] != victim["worker"]
        assert [j["status"] for j in after.jobs] == ["done"] * len(after.jobs)
        keys = [r["object_key"] for r in _rows(postgres_url, "SELECT object_key FROM derivatives")]
        events = "SELECT details FROM ledger_events WHERE action = 'derived'"
        derived = [json.loads(str(r["details"]))["key"] for r in _rows(postgres_url, events)]
        assert keys and len(keys) == len(set(keys))
        assert Counter(derived) == Counter(keys)  # one ledger event per output, no more
    finally:
        for proc in workers:
            _stop(proc)
        redis.kill()


def test_redis_killed_and_restarted_while_jobs_run(tmp_path: Path, postgres_url: str) -> None:
    folder = tmp_path / "redis"
    aof = ("--appendonly", "yes", "--appendfsync", "always")
    redis = RedisServer(folder, *aof).start()
    dump = tmp_path / "dump"
    dump.mkdir()
    _mpeg2(dump / "ch01_20261103_141500.mpg", 8)
    for i in range(3):
        make_clip(dump / f"BWC0042_2026110314{i:02d}00_{i:04d}.MP4", seconds=1.0, tone=300 + i)
    env = _env(tmp_path, redis, postgres_url)
    worker = None
    try:
        assert custos(env, "ingest", str(dump), "--json").rc == 0
        worker = _worker(env, tmp_path / "w.log")
        _running(postgres_url)
        redis.kill()  # SIGKILL while a job runs and three wait: only the AOF survives
        time.sleep(2)
        port = redis.port
        redis = RedisServer(folder, *aof)
        redis.port = port
        redis.start()
        after = check_aftermath(env)
        print(
            f"figures: Redis SIGKILL + restart: {len(after.jobs)} jobs, statuses "
            f"{sorted(Counter(j['status'] for j in after.jobs).items())}"
        )
        assert len(after.jobs) == 4
        assert [j["status"] for j in after.jobs] == ["done"] * 4, after.jobs
        assert worker.poll() is None, "the worker died with Redis"
    finally:
        if worker is not None:
            _stop(worker)
        redis.kill()
