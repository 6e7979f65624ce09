"""Queue round trips through Redis, and a batch with 1 vs 2 worker processes.

    .venv/bin/python benchmarks/pipeline/queue_and_pool.py [--messages 2000] [--clips 6]

1. No-op messages through Dramatiq on a private Redis: bare Dramatiq (an actor that
   does nothing) against Custos' job path (a job row per message, claim, heartbeat,
   finish with a ledger event) on the same broker, same run; messages per second.
2. A batch of generated clips normalised by `custos worker --processes 1` and then
   `--processes 2` (fresh data folder each), wall time until `custos jobs --wait` ends.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--save",
            "",
            "--dir",
            str(folder),
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return proc, f"redis://127.0.0.1:{port}/0"


def noop_round_trips(redis_url: str, work: Path, messages: int) -> dict[str, float]:
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    os.environ["CUSTOS_REDIS_URL"] = redis_url
    os.environ["CUSTOS_DATA_DIR"] = str(work / "noop-data")
    from storage.config import get_settings
    from storage.db.schema import Recording
    from storage.services import Services
    from workers import jobs
    from workers.broker import use_broker
    from workers.runner import install_services
    from workers.stages import STAGES, Stage

    broker = RedisBroker(url=redis_url, namespace="bench")
    use_broker(broker)
    dramatiq.set_broker(broker)
    done = {"n": 0}

    @dramatiq.actor(queue_name="cpu", max_retries=0)
    def bare_noop(i: int) -> None:
        done["n"] += 1

    # A stage that does nothing, through the whole job machinery.
    module = sys.modules[__name__]
    import dataclasses

    module.NoopParams = dataclasses.make_dataclass(  # type: ignore[attr-defined]
        "NoopParams", [("i", int, dataclasses.field(default=0))]
    )

    def run_noop(svc: Any, recording_id: str, params: Any, progress: Any) -> dict[str, Any]:
        return {}

    module.run_noop = run_noop  # type: ignore[attr-defined]
    STAGES["noop"] = Stage("noop", "cpu", __name__, "run_noop", "NoopParams", ("video",), 1.0)

    @dramatiq.actor(queue_name="cpu", max_retries=0, actor_name="noop")
    def noop(job_id: str) -> None:
        from workers.runner import execute

        execute("noop", job_id)

    svc = Services.open(get_settings())
    install_services(svc)
    import io
    import uuid
    from datetime import UTC, datetime

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

    def drain(worker_threads: int, send: Any, count: int) -> float:
        start = time.perf_counter()
        send()
        worker = dramatiq.Worker(broker, worker_threads=worker_threads, worker_timeout=100)
        worker.start()
        broker.join("cpu", timeout=600_000)
        worker.join()
        worker.stop()
        return count / (time.perf_counter() - start)

    bare = drain(4, lambda: [bare_noop.send(i) for i in range(messages)], messages)

    n_jobs = max(100, messages // 10)  # each job writes rows and a ledger event

    def send_jobs() -> None:
        for i in range(n_jobs):
            job, _ = svc.db.run(lambda s, i=i: jobs.ensure_job(s, rec, "noop", "cpu", {"i": i}))
            noop.send(job.id)

    custos = drain(4, send_jobs, n_jobs)
    ok = svc.ledger.verify().ok
    svc.close()
    return {
        "bare_dramatiq_msgs_per_s": bare,
        "custos_jobs_per_s": custos,
        "custos_jobs": n_jobs,
        "ledger_ok": ok,
    }


def pool_batch(redis_url: str, work: Path, clips: int, processes: int) -> float:
    from ingest.sample_dump import make_clip

    dump = work / "batch-dump"
    if not dump.exists():
        dump.mkdir()
        for i in range(clips):
            make_clip(
                dump / f"BWC0042_2026110314{i:02d}00_{i:04d}.MP4",
                seconds=10,
                size="1280x720",
                tone=300 + 10 * i,
            )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    env.update(
        {
            "CUSTOS_DATA_DIR": str(work / f"pool{processes}"),
            "CUSTOS_REDIS_URL": redis_url,
            "CUSTOS_PIPELINE_STAGES": "normalise",
        }
    )
    custos = [sys.executable, "-m", "api"]
    subprocess.run(
        [*custos, "ingest", str(dump), "--json"], env=env, check=True, stdout=subprocess.DEVNULL
    )
    start = time.perf_counter()
    worker = subprocess.Popen(
        [*custos, "worker", "--queues", "cpu", "--processes", str(processes), "--threads", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        subprocess.run(
            [*custos, "jobs", "--wait", "--json"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=3600,
        )
        return time.perf_counter() - start
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--clips", type=int, default=6)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="custos-bench-pipe-"))
    redis, url = start_redis(work)
    try:
        result: dict[str, Any] = noop_round_trips(url, work, args.messages)
        print(
            f"bare dramatiq no-op: {result['bare_dramatiq_msgs_per_s']:.0f} msgs/s; "
            f"custos job round trip: {result['custos_jobs_per_s']:.1f} jobs/s "
            f"({result['custos_jobs']} jobs, SQLite)"
        )
        subprocess.run(["redis-cli", "-u", url, "FLUSHALL"], check=True, stdout=subprocess.DEVNULL)
        for processes in (1, 2):
            seconds = pool_batch(url, work, args.clips, processes)
            result[f"batch_{processes}_process_s"] = seconds
            print(
                f"{args.clips} x 10 s 720p clips, {processes} worker process(es): {seconds:.1f} s"
            )
        result["speedup_2_vs_1"] = result["batch_1_process_s"] / result["batch_2_process_s"]
        result["cores"] = os.cpu_count()
        print(
            f"speed-up with 2 processes: {result['speedup_2_vs_1']:.2f}x on {os.cpu_count()} cores"
        )
        out = REPO / "benchmarks" / "out"
        out.mkdir(parents=True, exist_ok=True)
        (out / "pipeline_queue.json").write_text(json.dumps(result, indent=2))
    finally:
        redis.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
