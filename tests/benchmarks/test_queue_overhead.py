"""benchmarks/pipeline/queue_overhead.py at a tiny size, so the comparison cannot rot.

Both databases, both sides: every Custos job must end done (the child checks), the
ledger must verify, and the two sides must have drained the same number of messages.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL, require_postgres

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_queue_overhead_runs_on_sqlite_and_postgresql(tmp_path: Path) -> None:
    require_postgres()
    pg_url = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/pipeline/queue_overhead.py"),
         "--messages", "40", "--rounds", "2", "--pg-url", pg_url,
         "--out", str(tmp_path / "q.json")],
        capture_output=True, text=True, timeout=280, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "q.json").read_text())
    for database in ("sqlite", "postgresql"):
        r = results[database]
        assert r["messages"] == 40 and r["rounds"] == 2
        assert len(r["bare_s"]) == len(r["custos_s"]) == 2
        assert all(s > 0 for s in r["bare_s"] + r["custos_s"])
        assert r["ledger_ok"] is True
        assert r["custos_jobs_per_s"] > 0 and r["bare_msgs_per_s"] > 0
