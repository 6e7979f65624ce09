"""What the commands print is readable: on a pipe, in a log, in JSON and in charts."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from ingest.sample_dump import make_sample_dump


def _custos(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_receipt_jobs_ledger_and_charts_on_a_pipe(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_") and k != "COLUMNS"}
    env["CUSTOS_DATA_DIR"] = str(tmp_path / "data")
    dump = tmp_path / "dump"
    make_sample_dump(dump, seconds=1.0)
    done = _custos(env, "ingest", str(dump), "--case", "C-1", "--no-process")
    # Two files called ..._0001.MP4 in two folders are two different rows.
    assert "DCIM/100BWC/BWC0042_20261103141500_0001.MP4" in done.stdout, done.stdout
    assert "backup/BWC0042_20261103141500_0001.MP4" in done.stdout, done.stdout

    db = sqlite3.connect(tmp_path / "data" / "custos.db")
    _custos(env, "jobs")  # creates the jobs of the --no-process ingest
    error = (
        "ValueError: the stream ended early\nTraceback (most recent call last):\n  x" + "y" * 300
    )
    with db:
        db.execute("UPDATE jobs SET status='failed', error=? WHERE stage='normalise'", (error,))
    jobs = _custos(env, "jobs").stdout
    assert "worker / error" in jobs, jobs  # header not folded to 80 columns
    assert "ValueError: the stream ended early" in jobs, jobs

    shown = json.loads(_custos(env, "ledger", "show", "--json").stdout)
    assert shown and all(isinstance(e["details"], dict) for e in shown)

    # One recording in the month: the count axis is 0, 1, not 0.0, 0.2, ...
    with db:
        (rec_id,) = db.execute("SELECT id FROM recordings WHERE status='stored' LIMIT 1").fetchone()
        db.execute("UPDATE recordings SET ingested_at='2020-01-01 00:00:00' WHERE id!=?", (rec_id,))
        db.execute("UPDATE recordings SET capture_start=NULL WHERE id!=?", (rec_id,))
    when = datetime.now(UTC)
    out = tmp_path / "stats"
    stats = _custos(
        env, "stats", "--from", f"{when.year - 1}-01-01", "--to", f"{when.year + 1}-12-31",
        "--out", str(out),
    )  # fmt: skip
    assert stats.returncode == 0, stats.stderr
    svg = (out / "recordings_per_month.svg").read_text()
    axis = svg[svg.index('id="matplotlib.axis_2"') :]
    ticks = re.findall(r"<!-- (.*?) -->", axis[: axis.index("recordings")])
    assert ticks and all(re.fullmatch(r"\d+", t) for t in ticks), ticks
