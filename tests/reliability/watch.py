"""Witnesses for "nothing outside the input is read, no connection is made".

`Canary` watches files with Linux inotify, which sees every open and read of the inode
by any process (ffmpeg and ffprobe children included), so a hostile playlist that made
anything open the canary is caught however it got there. `Listener` is a TCP socket on
127.0.0.1 that records every connection made to it. Both prove they work before a test
relies on them (`self_test`), so a silent witness cannot make a test pass.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import socket
import struct
import threading
import time
from pathlib import Path

IN_ACCESS = 0x00000001
IN_OPEN = 0x00000020
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class Canary:
    """Files outside the input that nothing may open; `opened` lists what touched them."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._wd: dict[int, Path] = {}
        for path in paths:
            wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), IN_OPEN | IN_ACCESS)
            if wd < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")
            self._wd[wd] = path
        self.opened: list[tuple[Path, str]] = []

    def poll(self, wait_s: float = 0.0) -> list[tuple[Path, str]]:
        """Read pending events; returns everything recorded so far."""
        deadline = time.monotonic() + wait_s
        while True:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return self.opened
            data = os.read(self.fd, 65536)
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size + length
                what = "open" if mask & IN_OPEN else "read"
                self.opened.append((self._wd.get(wd, Path("?")), what))

    def self_test(self) -> None:
        """Open each canary once and check the event arrives, then forget those events."""
        for path in self.paths:
            with path.open("rb") as handle:
                handle.read(1)
        seen = {p for p, _ in self.poll(2.0)}
        missing = [p for p in self.paths if p not in seen]
        assert not missing, f"inotify saw no open of {missing}: the witness is blind"
        self.opened.clear()

    def close(self) -> None:
        os.close(self.fd)


class Listener:
    """A TCP server on 127.0.0.1 that accepts and records every connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.connections: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(1.0)
                try:
                    first = conn.recv(512)
                except OSError:
                    first = b""
                self.connections.append(first)
                # Answer nothing useful: a follower waits, reads junk, gives up.
                try:
                    conn.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    def self_test(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            conn.sendall(b"self-test")
        deadline = time.monotonic() + 5
        while not self.connections and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.connections == [b"self-test"], "the listener recorded nothing: blind"
        self.connections.clear()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(5)
