"""A batch with 1 vs 2 worker processes over a private Redis.

    .venv/bin/python benchmarks/pipeline/queue_and_pool.py [--clips 6]

A batch of generated clips normalised by `custos worker --processes 1` and then
`--processes 2` (fresh data folder each), wall time until `custos jobs --wait` ends.
The no-op queue round trip (bare Dramatiq against Custos' job path, on SQLite and
PostgreSQL) is `queue_overhead.py`.
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
    parser.add_argument("--clips", type=int, default=6)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="custos-bench-pipe-"))
    redis, url = start_redis(work)
    try:
        result: dict[str, Any] = {}
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
