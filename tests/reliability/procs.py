"""Run `custos` as a real process and measure it: exit code, output, wall time, peak memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Run:
    rc: int
    stdout: str
    stderr: str
    wall_s: float
    max_rss_mib: float  # the process and every descendant it waited for (ffmpeg, ffprobe)


def custos_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a fresh deployment at `data_dir`; `settings` are CUSTOS_* values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    env.update(
        {
            "CUSTOS_DATA_DIR": str(data_dir),
            "CUSTOS_ACTOR": "reliability",
            "CUSTOS_LOCAL_TIMEZONE": "UTC",
            "PYTHONPATH": str(REPO),
        }
    )
    env.update({f"CUSTOS_{k.upper()}": v for k, v in settings.items()})
    return env


def custos(env: dict[str, str], *args: str, timeout: float = 300.0) -> Run:
    """`custos ARGS` in a new process group; killed (group and all) past `timeout`."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "api", *args],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Run(
            rc=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            wall_s=wall,
            max_rss_mib=usage.ru_maxrss / 1024,
        )
