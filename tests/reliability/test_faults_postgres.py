"""PostgreSQL stopped (immediate: a crash) and started again mid-batch, under a real
`custos ingest`: the batch fails or rides it out, the same command again finishes it,
each file is recorded once with its digest, and reconcile, ledger and fixity agree."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.reliability.aftermath import check_aftermath
from tests.reliability.faults import PgCluster
from tests.reliability.procs import Run, custos, custos_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

FILES = 40


def test_postgres_crash_mid_batch(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    digests = {}
    for i in range(FILES):
        data = os.urandom(2 * 1024 * 1024)
        name = f"CAM{i:02d}_20261103_1415{i:02d}.dat"
        (dump / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    pg = PgCluster().init()
    try:
        env = custos_env(tmp_path / "data", database_url=pg.url, pipeline_stages="",
                         ingest_readers="1")  # fmt: skip
        # The schema and the ledger key first, so the batch itself is what the crash hits.
        assert custos(env, "ledger", "verify").rc in (0, 1)
        result: list[Run] = []
        batch = threading.Thread(
            target=lambda: result.append(custos(env, "ingest", str(dump), "--json", timeout=240))
        )
        batch.start()
        originals = tmp_path / "data" / "objects" / "originals"
        deadline = time.monotonic() + 120
        while len([p for p in originals.rglob("*") if p.is_file()]) < 5:
            assert batch.is_alive(), result[0].stderr[-2000:] if result else "?"
            assert time.monotonic() < deadline, "the batch never got going"
            time.sleep(0.02)
        stored_at_crash = len([p for p in originals.rglob("*") if p.is_file()])
        pg.stop("immediate")
        time.sleep(4)  # longer than the database retries (0.2 + 0.4 + 0.8 + 1.6 s)
        pg.start()
        batch.join(240)
        (first,) = result
        print(
            f"figures: postgres crash after {stored_at_crash}/{FILES} objects; "
            f"batch exit {first.rc} in {first.wall_s:.1f} s"
        )
        assert first.rc != 0 or len(json.loads(first.stdout)["files"]) == FILES
        if first.rc not in (0, 3):  # one line that says what happened and what to do
            assert first.rc == 1 and "Traceback" not in first.stderr, first.stderr[-2000:]
            assert "the database failed during the ingest" in first.stderr, first.stderr
            assert "run the same command again to resume" in first.stderr, first.stderr

        # What the crash left: objects published whose transaction never committed.
        # Reconcile (listing only) names exactly those.
        engine = create_engine(pg.url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            recorded = {str(r[0]) for r in conn.execute(text("SELECT sha256 FROM recordings"))}
        engine.dispose()
        on_disk = {p.name for p in originals.rglob("*") if p.is_file()}
        listing = custos(env, "reconcile", "--dry-run", "--min-age", "0", "--json")
        orphans = {o["key"].rsplit("/", 1)[-1] for o in json.loads(listing.stdout)["orphans"]}
        assert orphans == on_disk - recorded, (orphans, on_disk - recorded)
        assert listing.rc == (1 if orphans else 0)
        print(f"figures: postgres crash left {len(orphans)} orphan objects (recorded by the rerun)")

        again = custos(env, "ingest", str(dump), "--json", timeout=240)
        assert again.rc == 0, again.stderr[-3000:]
        files = {Path(f["path"]).name: f for f in json.loads(again.stdout)["files"]}
        assert {n: f["sha256"] for n, f in files.items()} == digests
        engine = create_engine(pg.url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT sha256, count(*) FROM recordings GROUP BY sha256"))
            counts: dict[str, int] = {str(k): int(v) for k, v in rows.all()}
        engine.dispose()
        assert counts == {d: 1 for d in digests.values()}  # each file recorded once
        after = check_aftermath(env, wait_jobs=False)
        assert after.fixity_checked == FILES
    finally:
        pg.close()


@pytest.mark.redis
def test_postgres_crash_while_workers_process(tmp_path: Path) -> None:
    """The database crashes and comes back while a worker runs one job and others wait:
    every job still ends done (or failed with a reason), nothing is done twice."""
    from collections import Counter

    from ingest.sample_dump import make_clip
    from tests.reliability.pool import mpeg2 as _mpeg2
    from tests.reliability.pool import rows as _rows
    from tests.reliability.pool import running as _running
    from tests.reliability.pool import stop as _stop
    from tests.reliability.pool import worker as _worker
    from tests.workers.redis_server import RedisServer

    dump = tmp_path / "dump"
    dump.mkdir()
    _mpeg2(dump / "ch01_20261103_141500.mpg", 8)
    for i in range(2):
        make_clip(dump / f"BWC0042_2026110314{i:02d}00_{i:04d}.MP4", seconds=1.0, tone=300 + i)
    pg = PgCluster().init()
    redis = RedisServer(tmp_path / "redis", "--appendonly", "yes").start()
    worker = None
    try:
        env = custos_env(tmp_path / "data", database_url=pg.url, redis_url=redis.url,
                         worker_heartbeat_s="2", redis_maintenance_chance="300000",
                         pipeline_stages="normalise")  # fmt: skip
        assert custos(env, "ingest", str(dump), "--json").rc == 0
        worker = _worker(env, tmp_path / "w.log")
        url = pg.url.replace("postgresql://", "postgresql+psycopg://")
        _running(url)
        pg.stop("immediate")
        time.sleep(4)
        pg.start()
        after = check_aftermath(env)
        statuses = Counter(j["status"] for j in after.jobs)
        attempts = sorted(j["attempts"] for j in after.jobs)
        print(f"figures: postgres crash while a worker runs: {sorted(statuses.items())}, "
              f"attempts {attempts}")  # fmt: skip
        assert len(after.jobs) == 3
        assert worker.poll() is None, "the worker died with the database"
        keys = [r["object_key"] for r in _rows(url, "SELECT object_key FROM derivatives")]
        assert len(keys) == len(set(keys))
    finally:
        if worker is not None:
            _stop(worker)
        redis.kill()
        pg.close()
