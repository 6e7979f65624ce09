"""Real servers a fault test may stop and start: its own PostgreSQL cluster, a TCP proxy
that cuts an S3 server off (the server keeps its objects, as MinIO on a disk would), and
a small filesystem for the data folder. Nothing here touches the shared PostgreSQL or
Redis; each runs on a port of its own and is removed when the test ends."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.needs import unavailable
from tests.workers.redis_server import free_port


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    if which is None:
        unavailable("pg_ctl/initdb are not installed")
    return Path(which).parent


class PgCluster:
    """A throw-away PostgreSQL cluster on a free port (run as `postgres` when root)."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        # Not under pytest's tmp_path: that is private to root, and the server runs as
        # `postgres`.
        self.folder = Path(tempfile.mkdtemp(prefix="custos-pg-"))
        self.data = self.folder / "pgdata"
        self.port = free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                unavailable("running as root and there is no `postgres` user for initdb")
            self.user = "postgres"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/custos"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        command = [*args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, timeout=120, check=check)

    def init(self) -> PgCluster:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            shutil.chown(self.folder, self.user)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-sync")  # fmt: skip
        self.start()
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", "custos")  # fmt: skip
        return self

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=on"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.folder / "log"), "-w", "-t", "60", "start")  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        """`immediate`: like a crash of the server (no checkpoint, clients cut off)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop",
                  check=False)  # fmt: skip

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class TcpProxy:
    """127.0.0.1:port -> target; `cut()` drops every connection and refuses new ones
    (a server gone, a cable pulled), `restore()` listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.bytes_up = 0  # client -> server, so a test can cut mid-upload
        self.silent = False  # black hole: connections stay open, nothing is passed on
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.restore()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            # Linger 0, then shutdown: the peer gets a reset at once. (A bare close() while
            # a pipe thread is blocked in recv() on the socket closes nothing: the client
            # would wait, half-open, for minio's 5-minute read timeout.)
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()
        if self._thread is not None:
            self._thread.join(5)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self.silent:  # accepted, then never answered: a host that went dark
                with self._lock:
                    self._conns.append(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut while this one was connecting
                    client.close()
                    server.close()
                    return
                self._conns += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        try:
            while data := src.recv(65536):
                if self.silent:
                    continue  # swallowed: neither side hears from the other again
                dst.sendall(data)
                if up:
                    self.bytes_up += len(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.cut()


@contextlib.contextmanager
def small_filesystem(mountpoint: Path, size_mib: int) -> Iterator[Path]:
    """A tmpfs of `size_mib` MiB at `mountpoint` (needs root: CI runs as root)."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        unavailable("a small filesystem needs root (mount -t tmpfs)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs",
                           str(mountpoint)], capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(mountpoint)], capture_output=True).returncode == 0:
                break
            time.sleep(0.25)


def resize(mountpoint: Path, size_mib: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size_mib}m", str(mountpoint)], check=True)
