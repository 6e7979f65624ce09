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


# Peak memory is measured by a small launcher, not by wait4 on a child of pytest: Linux
# keeps a process's high-water RSS across exec, so a child forked from a large pytest
# process starts with pytest's size as its peak (the same ingest measured 277 MiB alone
# and 635 MiB late in a full run). The launcher forks from its own few MiB.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
if os.WIFSIGNALED(status):  # die the same way, so the caller sees the same status
    os.kill(os.getpid(), os.WTERMSIG(status))
sys.exit(os.WEXITSTATUS(status))
"""


def custos(env: dict[str, str], *args: str, timeout: float = 300.0) -> Run:
    """`custos ARGS` in a new process group; killed (group and all) past `timeout`."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as peak,
    ):
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-S", "-c", LAUNCHER, peak.name, sys.executable, "-m", "api", *args],
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
        measured = peak.read().strip()  # empty when the launcher itself was killed
        return Run(
            rc=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            wall_s=wall,
            max_rss_mib=(int(measured) if measured else usage.ru_maxrss) / 1024,
        )
