"""No-op job round trips: bare Dramatiq against Custos' job path, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/pipeline/queue_overhead.py [--messages 1000] [--rounds 3]
        [--databases sqlite,postgresql] [--out FILE]
        [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]

Like for like: both sides drain the same number of messages from the same private Redis
with the same in-process Dramatiq worker (4 threads). What is timed is only the drain:
for Custos the job rows are created and every message is sent before the clock starts,
as are the bare side's messages, so the figure is what Custos adds per job (claim,
heartbeat thread, stage lookup, finish with a ledger event). The two sides alternate,
`--rounds` times, each database in a child process of its own (settings and the stage
registry are per process); medians are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.pipeline.queue_and_pool import start_redis  # noqa: E402

THREADS = 4


def _child(
    database_url: str | None, redis_url: str, work: Path, messages: int, rounds: int
) -> None:
    """Runs in its own process: one database, `rounds` alternating bare/Custos drains."""
    import dataclasses
    import io
    from datetime import UTC, datetime

    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    os.environ["CUSTOS_REDIS_URL"] = redis_url
    os.environ["CUSTOS_DATA_DIR"] = str(work / "data")
    if database_url:
        os.environ["CUSTOS_DATABASE_URL"] = database_url
    from storage.config import get_settings
    from storage.db.schema import Recording
    from storage.services import Services
    from workers import jobs
    from workers.broker import use_broker
    from workers.runner import execute, install_services
    from workers.stages import STAGES, Stage

    broker = RedisBroker(url=redis_url, namespace=f"bench-{uuid.uuid4().hex[:8]}")
    use_broker(broker)
    dramatiq.set_broker(broker)

    @dramatiq.actor(queue_name="cpu", max_retries=0, actor_name="bare_noop")
    def bare_noop(job_id: str) -> None:
        return None

    # A registered stage whose work is nothing: every cost left is the job machinery's.
    module = sys.modules[__name__]
    module.NoopParams = dataclasses.make_dataclass(  # type: ignore[attr-defined]
        "NoopParams", [("i", int, dataclasses.field(default=0))]
    )
    module.run_noop = lambda svc, recording_id, params, progress: {}  # type: ignore[attr-defined]
    STAGES["noop"] = Stage("noop", "cpu", __name__, "run_noop", "NoopParams", ("video",), 1.0)

    @dramatiq.actor(queue_name="cpu", max_retries=0, actor_name="noop")
    def noop(job_id: str) -> None:
        execute("noop", job_id)

    svc = Services.open(get_settings())
    install_services(svc)
    put = svc.store.put_content_addressed(io.BytesIO(b"noop"))
    rec = Recording(
        id=str(uuid.uuid4()),
        sha256=put.digests["sha256"],
        size=4,
        object_key=put.key,
        original_name="noop",
        media_kind="video",
        status="stored",
        probe={},
        missing_fields=[],
        device_kind="other",
        incomplete=False,
        legal_hold=False,
        ingested_at=datetime.now(UTC),
        ingested_by="bench",
    )
    svc.db.run(lambda s: s.add(rec))

    def drain() -> float:
        start = time.perf_counter()
        worker = dramatiq.Worker(broker, worker_threads=THREADS, worker_timeout=100)
        worker.start()
        broker.join("cpu", timeout=600_000)
        worker.join()
        elapsed = time.perf_counter() - start
        worker.stop()
        return elapsed

    def prepare_custos(round_no: int) -> list[str]:
        def make(session: Any) -> list[str]:
            return [
                jobs.ensure_job(session, rec, "noop", "cpu", {"i": round_no * messages + i})[0].id
                for i in range(messages)
            ]

        return svc.db.run(make)

    bare_s: list[float] = []
    custos_s: list[float] = []
    for round_no in range(rounds):
        for i in range(messages):
            bare_noop.send(str(i))
        bare_s.append(drain())
        ids = prepare_custos(round_no)
        for job_id in ids:
            noop.send(job_id)
        custos_s.append(drain())
        done = len(jobs.list_jobs(svc, statuses=(jobs.DONE,)))
        if done != (round_no + 1) * messages:
            raise SystemExit(f"only {done} of {(round_no + 1) * messages} jobs are done")
    ok = svc.ledger.verify().ok
    svc.close()
    bare_rate = messages / statistics.median(bare_s)
    custos_rate = messages / statistics.median(custos_s)
    print(
        json.dumps(
            {
                "messages": messages,
                "rounds": rounds,
                "bare_s": bare_s,
                "custos_s": custos_s,
                "bare_msgs_per_s": bare_rate,
                "custos_jobs_per_s": custos_rate,
                "ratio": custos_rate / bare_rate,
                "custos_ms_per_job_extra": 1000
                * (statistics.median(custos_s) - statistics.median(bare_s))
                / messages,
                "ledger_ok": ok,
            }
        )
    )


def _pg_admin(admin_url: str, statement: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE) on the server."""
    from sqlalchemy import create_engine, text

    url = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def _pg_database(admin_url: str) -> tuple[str, str]:
    """A fresh database on the PostgreSQL server (name, URL)."""
    from sqlalchemy.engine import make_url

    name = f"custos_bench_{uuid.uuid4().hex[:8]}"
    _pg_admin(admin_url, f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    return name, url


def run(messages: int, rounds: int, databases: list[str], pg_url: str) -> dict[str, Any]:
    results: dict[str, Any] = {"threads": THREADS, "cores": os.cpu_count()}
    for database in databases:
        work = Path(tempfile.mkdtemp(prefix=f"custos-bench-queue-{database}-"))
        redis, redis_url = start_redis(work)
        dropped: str | None = None
        try:
            url: str | None = None
            if database == "postgresql":
                dropped, url = _pg_database(pg_url)
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    url or "",
                    redis_url,
                    str(work),
                    str(messages),
                    str(rounds),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            results[database] = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            redis.kill()
            redis.wait()
            if dropped:
                _pg_admin(pg_url, f'DROP DATABASE IF EXISTS "{dropped}" WITH (FORCE)')
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        url, redis_url, work, messages, rounds = sys.argv[2:7]
        _child(url or None, redis_url, Path(work), int(messages), int(rounds))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out/queue_overhead.json")
    args = parser.parse_args()
    results = run(args.messages, args.rounds, args.databases.split(","), args.pg_url)
    for database in args.databases.split(","):
        r = results[database]
        print(
            f"{database}: bare Dramatiq {r['bare_msgs_per_s']:.0f} msgs/s, Custos jobs "
            f"{r['custos_jobs_per_s']:.0f} jobs/s ({r['ratio']:.2f}x; "
            f"+{r['custos_ms_per_job_extra']:.2f} ms a job; {r['messages']} each, "
            f"{r['rounds']} alternating rounds, medians; ledger ok: {r['ledger_ok']})"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
