"""The real app under uvicorn on a free loopback port, in a thread: for browser tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from api.app import create_app
from storage.services import Services


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(svc: Services) -> Iterator[str]:
    """`create_app(svc)` served until the block ends; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(create_app(svc, resume_uploads=False), host="127.0.0.1", port=port,
                            log_level="warning")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def log_in(page: Any, url: str, name: str, password: str) -> Any:
    """Log `page` in through the login form; it lands on the case list."""
    page.goto(f"{url}/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(f"{url}/cases")
    return page
