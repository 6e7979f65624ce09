"""What must hold after every fault: each job done or failed with a reason, no row
pointing at a missing object, orphans adopted or quarantined by `custos reconcile`, the
ledger verified, fixity passed. Run through the real CLI, as an operator would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.reliability.procs import custos


@dataclass
class Aftermath:
    jobs: list[dict[str, Any]]
    reconcile: dict[str, Any]
    fixity_checked: int


def check_aftermath(env: dict[str, str], *, wait_jobs: bool = True) -> Aftermath:
    jobs: list[dict[str, Any]] = []
    if wait_jobs:
        run = custos(env, "jobs", "--wait", "--json", "--timeout", "300", timeout=360)
        jobs = json.loads(run.stdout)
        failed = [j for j in jobs if j["status"] == "failed"]
        assert run.rc == (1 if failed else 0), run.stderr[-3000:]
        for job in jobs:
            assert job["status"] in ("done", "failed"), job
            if job["status"] == "failed":
                assert job["error"], f"failed without a reason: {job}"
    run = custos(env, "reconcile", "--min-age", "0", "--json", timeout=300)
    report = json.loads(run.stdout)
    assert run.rc == 0 and report["ok"], report
    assert report["missing"] == [], report["missing"]
    assert all(o["action"] in ("adopted", "quarantined") for o in report["orphans"]), report
    # A second pass finds nothing left to do.
    again = custos(env, "reconcile", "--min-age", "0", "--json", timeout=300)
    second = json.loads(again.stdout)
    assert again.rc == 0 and second["orphans"] == [] and second["missing"] == [], second
    verify = custos(env, "ledger", "verify", timeout=300)
    assert verify.rc == 0, verify.stdout + verify.stderr
    fixity = custos(env, "fixity", "--json", timeout=300)
    assert fixity.rc == 0, fixity.stdout + fixity.stderr
    return Aftermath(jobs, report, int(json.loads(fixity.stdout)["checked"]))
