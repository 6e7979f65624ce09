"""Ingest throughput against `sha256sum` over the same files, in the same run.

    .venv/bin/python benchmarks/ingest/run.py [--gib 1.0] [--files 8] [--repeat 3]

Generates a dump of incompressible files (recorder footage is incompressible too),
warms the page cache, then alternates `sha256sum` and `custos ingest` (a fresh data
folder each time, on the same disk) and reports the best of N for each.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def make_dump(folder: Path, gib: float, files: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    size = int(gib * 1024**3 / files)
    paths = []
    block = os.urandom(8 * 1024 * 1024)
    for i in range(files):
        path = folder / f"BWC0042_20261103{14 + i // 60:02d}{i % 60:02d}00_{i:04d}.MP4"
        with path.open("wb") as out:
            written = 0
            while written < size:
                chunk = block[: min(len(block), size - written)]
                # Vary each block so no two files (or blocks) share content.
                out.write(i.to_bytes(4, "little") + written.to_bytes(8, "little") + chunk[12:])
                written += len(chunk)
        paths.append(path)
    return paths


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="folder on the disk to measure (default: a temp folder)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="custos-bench-", dir=args.workdir))
    try:
        dump = work / "dump"
        paths = make_dump(dump, args.gib, args.files)
        total = sum(p.stat().st_size for p in paths)
        timed(["cat", *map(str, paths)])  # warm the page cache for both contenders
        custos = [
            sys.executable,
            "-m",
            "api",
            "ingest",
            str(dump),
            "--json",
            "--no-process",
            "--case",
            "BENCH",
        ]
        peer_s, custos_s = [], []
        for i in range(args.repeat):
            peer_s.append(timed(["sha256sum", *map(str, paths)]))
            data = work / f"data{i}"
            env = {**os.environ, "CUSTOS_DATA_DIR": str(data)}
            env.pop("CUSTOS_DATABASE_URL", None)
            custos_s.append(timed(custos, env))
            shutil.rmtree(data)
        mb = total / 1e6
        result = {
            "bytes": total,
            "files": len(paths),
            "sha256sum_s": min(peer_s),
            "custos_ingest_s": min(custos_s),
            "sha256sum_MBps": mb / min(peer_s),
            "custos_MBps": mb / min(custos_s),
            "ratio": min(peer_s) / min(custos_s),
            "all_sha256sum_s": peer_s,
            "all_custos_s": custos_s,
            "machine": f"{platform.machine()} {os.cpu_count()} cores",
        }
        print(f"dump: {len(paths)} files, {mb:,.0f} MB (best of {args.repeat})")
        print(f"sha256sum      {result['sha256sum_MBps']:8.0f} MB/s  {min(peer_s):.2f} s")
        print(
            f"custos ingest  {result['custos_MBps']:8.0f} MB/s  {min(custos_s):.2f} s "
            "(hash + write-once store + fsync + probe + ledger, end to end)"
        )
        print(f"ratio custos/sha256sum: {result['ratio']:.2f}x")
        out = REPO / "benchmarks" / "out"
        out.mkdir(parents=True, exist_ok=True)
        (out / "ingest.json").write_text(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
