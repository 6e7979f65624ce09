"""Hosts that share no disk, on one machine: each "host" is a process group of the real
`custos` CLI with a CUSTOS_DATA_DIR of its own, used only as scratch and cache.

Where the machine allows it (root, or unprivileged user namespaces), each host's commands
also run in a mount and UTS namespace of their own (`unshare`): the host has its own host
name, and every other host's data folder, as well as any folder named `hidden` (the dump,
for a worker host), is covered by an empty tmpfs. A stage that opens a path another host
wrote then fails with "No such file or directory", as it would on separate machines,
instead of quietly reading the neighbour's disk. Without namespaces the hosts run bare;
tests then rely on the path checks they make on the database.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import psutil

from tests.reliability.procs import REPO, Run, custos_env


def _isolation_script(hostname: str, own: Path, root: Path, hidden: tuple[Path, ...]) -> str:
    """Shell run inside `unshare --mount --uts`: own host name, other hosts' disks hidden."""
    stash = root.parent / f".stash-{hostname}-{os.getpid()}-{time.monotonic_ns()}"
    lines = [
        "set -e",
        f"hostname {shlex.quote(hostname)}",
        f"mkdir -p {shlex.quote(str(stash))} {shlex.quote(str(own))}",
        f"mount --bind {shlex.quote(str(own))} {shlex.quote(str(stash))}",
        # Every host's data folder lies under `root`: cover them all, then put ours back.
        f"mount -t tmpfs -o size=1m,mode=0755 other-hosts {shlex.quote(str(root))}",
        f"mkdir -p {shlex.quote(str(own))}",
        f"mount --move {shlex.quote(str(stash))} {shlex.quote(str(own))}",
        *(
            f"mount -t tmpfs -o size=1m,mode=0755 not-on-this-host {shlex.quote(str(p))}"
            for p in hidden
        ),
        'exec "$@"',
    ]
    return "\n".join(lines)


@lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """Can this machine give a process its own mounts and host name (`unshare`)?"""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "hosts"
        own = root / "probe"
        own.mkdir(parents=True)
        (own / "mine").write_text("x")
        (root / "other").mkdir()
        (root / "other" / "theirs").write_text("x")
        script = _isolation_script("custos-probe", own, root, ())
        check = f"test -f {shlex.quote(str(own / 'mine'))} && ! test -e {root / 'other'}"
        try:
            done = subprocess.run(
                ["unshare", "--mount", "--uts", "--fork", "sh", "-c", script, "sh",
                 "sh", "-c", check],
                capture_output=True, timeout=30,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0


@dataclass
class Host:
    """One host: a name, a data folder of its own, the shared services' settings."""

    name: str
    root: Path  # the folder every host's data folder lies under
    settings: dict[str, str]
    hidden: tuple[Path, ...] = ()  # folders this host must not see (the dump, on a worker)
    isolated: bool = True  # run in namespaces of its own where the machine allows it
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.root / self.name

    @property
    def hostname(self) -> str:
        return f"custos-host-{self.name}"

    @property
    def env(self) -> dict[str, str]:
        return custos_env(self.data_dir, actor=f"host-{self.name}", **self.settings)

    @property
    def namespaced(self) -> bool:
        return self.isolated and namespaces_available()

    def argv(self, *args: str) -> list[str]:
        """`custos ARGS` as this host runs it (the venv's console script, as installed)."""
        return self._wrap([str(Path(sys.executable).with_name("custos")), *args])

    def _wrap(self, command: list[str]) -> list[str]:
        if not self.namespaced:
            return command
        script = _isolation_script(self.hostname, self.data_dir, self.root, self.hidden)
        return ["unshare", "--mount", "--uts", "--fork", "sh", "-c", script, "sh", *command]

    def sees(self, path: Path) -> bool:
        """Whether a process of this host finds `path` there."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(self._wrap(["test", "-e", str(path)]), timeout=30)
        return done.returncode == 0

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """A long-running `custos ARGS` (serve, worker) as a process group of its own."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.root.parent / f"{self.name}-{len(self.procs)}-{args[0]}.log").open("wb")
        with log:
            proc = subprocess.Popen(
                self.argv(*args), env=self.env, cwd=REPO, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.procs.append(proc)
        return proc

    def run(self, *args: str, timeout: float = 300.0, stdin: str | None = None) -> Run:
        """`custos ARGS` on this host, to its end; the whole group killed past `timeout`."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        proc = subprocess.Popen(
            self.argv(*args), env=self.env, cwd=REPO, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, stdin=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        try:
            out, err = proc.communicate(None if stdin is None else stdin.encode(), timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        return Run(
            rc=proc.returncode,
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
            wall_s=time.monotonic() - started,
            max_rss_mib=0.0,
        )

    def pids(self) -> set[int]:
        """Every live process of this host's long-running groups."""
        groups = {p.pid for p in self.procs if p.poll() is None}
        found: set[int] = set()
        for proc in psutil.process_iter():
            try:
                if os.getpgid(proc.pid) in groups:
                    found.add(proc.pid)
            except (ProcessLookupError, psutil.Error):
                continue
        return found

    def kill(self) -> None:
        """SIGKILL: the host is gone, every process of it at once (ffmpeg included)."""
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, and SIGKILL for what is still there after `timeout`."""
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        # Whatever the group's leader left behind (a straggling child) goes too.
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def log_tail(self, limit: int = 3000) -> str:
        parts = []
        for log in sorted(self.root.parent.glob(f"{self.name}-*.log")):
            parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-limit:]}")
        return "\n".join(parts)
