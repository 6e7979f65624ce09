"""tus uploads: a tuspy client interrupted mid-file and resumed across a server restart;
the stored original's digest equals hashlib's; refusals and checksum mismatches."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from api.services.users import add_user, grant
from storage.services import Services
from tests.api.http_world import PASSWORD, login, open_services

CASE = "UP-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The real app under uvicorn in a thread."""

    def __init__(self, svc: Services, port: int) -> None:
        config = uvicorn.Config(create_app(svc), host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "DJI_20240501093000_0001.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=3:size=320x240:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-shortest",
         "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    assert path.stat().st_size > 80_000
    return path


def _wait_ingested(base: str, upload_url: str, headers: dict[str, str]) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, object] = httpx.get(upload_url, headers=headers).json()
        if body["state"] in ("ingested", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_tuspy_upload_interrupted_and_resumed_after_restart(tmp_path: Path, clip: Path) -> None:
    from tusclient import client as tus_client
    from tusclient.uploader import Uploader

    class Sha256Uploader(Uploader):  # tuspy checksums with sha1 unless told otherwise
        CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)

    data_dir = tmp_path / "data"
    svc = open_services(data_dir)
    add_user(svc, "tech", "technician", PASSWORD)
    grant(svc, "tech", CASE)
    port = _free_port()
    meta = {"filename": clip.name, "case": CASE, "step": "S1", "collector": "Officer Wang",
            "place": "Gate 3", "proves": "the notice was served", "device_kind": "body_cam",
            "batch": "dump-1"}  # fmt: skip
    chunk = 16 * 1024
    stack = contextlib.ExitStack()
    with Server(svc, port) as server:
        token = login(TestClient(create_app(svc, resume_uploads=False)), "tech")
        headers = {"Authorization": f"Bearer {token}"}
        client = tus_client.TusClient(f"{server.url}/api/uploads/", headers=headers)
        first = stack.enter_context(clip.open("rb"))
        uploader = Sha256Uploader(file_stream=first, client=client, chunk_size=chunk,
                                  metadata=meta, upload_checksum=True)  # fmt: skip
        uploader.upload_chunk()
        uploader.upload_chunk()
        url = uploader.url
        assert url is not None
        offset = int(httpx.head(url, headers={**headers, "Tus-Resumable": "1.0.0"})
                     .headers["upload-offset"])  # fmt: skip
        assert offset == 2 * chunk < clip.stat().st_size
    svc.close()  # the server is gone mid-file

    svc = open_services(data_dir)
    try:
        with Server(svc, port) as server:
            client = tus_client.TusClient(f"{server.url}/api/uploads/", headers=headers)
            again = stack.enter_context(clip.open("rb"))
            resumed = Sha256Uploader(file_stream=again, client=client, url=url, chunk_size=chunk,
                                     upload_checksum=True)  # fmt: skip
            assert resumed.offset == 2 * chunk  # asked the restarted server with HEAD
            resumed.upload()
            body = _wait_ingested(server.url, url, headers)
            assert body["state"] == "ingested", body
            entry = body["receipt_entry"]
            assert isinstance(entry, dict)
            digest = hashlib.sha256(clip.read_bytes()).hexdigest()
            assert entry["sha256"] == digest and entry["status"] == "stored"
            rec = httpx.get(f"{server.url}/api/recordings/{entry['recording_id']}",
                            headers=headers).json()  # fmt: skip
            assert rec["sha256"] == digest and rec["case_no"] == CASE
            assert rec["collector"] == "Officer Wang" and rec["device_kind"] == "body_cam"
            assert rec["ingested_by"] == "tech"
            batch = httpx.get(f"{server.url}/api/uploads/batches/dump-1", headers=headers).json()
            assert [b["receipt_entry"]["sha256"] for b in batch] == [digest]
        stored = svc.store.read_digests(f"originals/sha256/{digest[:2]}/{digest[2:4]}/{digest}")
        assert stored[0]["sha256"] == digest
        actions = {(e.actor, e.action) for e in svc.ledger.events(entry["recording_id"])}
        assert any(actor == "tech" for actor, _ in actions)
    finally:
        svc.close()
        stack.close()


@pytest.fixture
def tus(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Services]]:
    svc = open_services(tmp_path / "d", max_upload_bytes=1000)
    add_user(svc, "tech", "technician", PASSWORD)
    add_user(svc, "rev", "reviewer", PASSWORD)
    grant(svc, "tech", CASE)
    grant(svc, "rev", CASE)
    try:
        with TestClient(create_app(svc, resume_uploads=False)) as c:
            yield c, {"tech": login(c, "tech"), "rev": login(c, "rev")}, svc
    finally:
        svc.close()


def _meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def test_tus_options_refusals_checksum_and_termination(
    tus: tuple[TestClient, dict[str, str], Services],
) -> None:
    c, tokens, _ = tus
    opts = c.options("/api/uploads/")
    assert opts.status_code == 204
    assert opts.headers["tus-version"] == "1.0.0" and opts.headers["tus-max-size"] == "1000"
    assert set(opts.headers["tus-extension"].split(",")) == {"creation", "termination", "checksum"}

    def create(who: str, length: int, case: str = CASE) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {tokens[who]}",
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(length),
            "Upload-Metadata": _meta(filename="a.bin", case=case),
        }
        return c.post("/api/uploads/", headers=headers)

    assert create("tech", 1001).status_code == 413
    assert create("tech", 10, case="NOT-MINE").status_code == 403
    assert create("rev", 10).status_code == 403
    made = create("tech", 10)
    assert made.status_code == 201
    url = made.headers["location"]
    auth = {"Authorization": f"Bearer {tokens['tech']}", "Tus-Resumable": "1.0.0"}
    patch = {**auth, "Content-Type": "application/offset+octet-stream"}
    bad = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    r = c.patch(url, content=b"hello", headers={**patch, "Upload-Offset": "0",
                                                "Upload-Checksum": f"sha256 {bad}"})  # fmt: skip
    assert r.status_code == 460
    assert c.head(url, headers=auth).headers["upload-offset"] == "0"
    good = base64.b64encode(hashlib.sha256(b"hello").digest()).decode()
    r = c.patch(url, content=b"hello", headers={**patch, "Upload-Offset": "0",
                                                "Upload-Checksum": f"sha256 {good}"})  # fmt: skip
    assert r.status_code == 204 and r.headers["upload-offset"] == "5"
    assert c.patch(url, content=b"x", headers={**patch, "Upload-Offset": "0"}).status_code == 409
    other = {"Authorization": f"Bearer {tokens['rev']}", "Tus-Resumable": "1.0.0"}
    assert c.head(url, headers=other).status_code == 404
    assert c.delete(url, headers=auth).status_code == 204
    assert c.head(url, headers=auth).status_code == 404
