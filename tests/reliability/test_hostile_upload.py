"""The hostile corpus through the tus upload API, and names built to escape the upload
folder: every upload ends ingested with the same status as `custos ingest` gives, the
stored original is the bytes sent, nothing is written outside the upload's own folder,
nothing outside it is opened and no connection is made."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services.users import add_user, grant
from ingest.sniff import MEDIA_EXTENSIONS
from storage.db.schema import Recording
from storage.services import Services
from tests.api.http_world import PASSWORD, login, open_services
from tests.reliability import hostile_corpus as hc
from tests.reliability.watch import Canary, Listener

CASE = "H-UP-1"
EVIL = "custos-evil-upload.txt"
TUS = {"Tus-Resumable": "1.0.0"}


def _meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


class Tus:
    def __init__(self, client: TestClient, token: str) -> None:
        self.c = client
        self.auth = {"Authorization": f"Bearer {token}", **TUS}

    def upload(self, name: str, data: bytes) -> dict[str, object]:
        made = self.c.post("/api/uploads/", headers={
            **self.auth, "Upload-Length": str(len(data)),
            "Upload-Metadata": _meta(filename=name, case=CASE)})  # fmt: skip
        assert made.status_code == 201, made.text
        url = made.headers["location"]
        if data:
            sent = self.c.patch(url, content=data, headers={
                **self.auth, "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream"})  # fmt: skip
            assert sent.status_code == 204, sent.text
        else:  # a zero-byte upload is complete when created; an empty PATCH finishes it
            sent = self.c.patch(url, content=b"", headers={
                **self.auth, "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream"})  # fmt: skip
            assert sent.status_code == 204, sent.text
        # TestClient runs the background acquisition before it returns.
        body: dict[str, object] = self.c.get(url, headers=self.auth).json()
        return body


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Tus, Services]]:
    svc = open_services(tmp_path / "data")
    add_user(svc, "tech", "technician", PASSWORD)
    grant(svc, "tech", CASE)
    try:
        with TestClient(create_app(svc, resume_uploads=False)) as client:
            yield Tus(client, login(client, "tech")), svc
    finally:
        svc.close()


def _outside_writes(root: Path, data: Path, names: list[str]) -> list[Path]:
    """Files named like an escape target anywhere under `root` but the store."""
    found = []
    for path in root.rglob("*"):
        if any(n in path.name for n in names) and data / "objects" not in path.parents:
            found.append(path)
    return found


def test_hostile_corpus_through_tus(tmp_path: Path, world: tuple[Tus, Services]) -> None:
    tus, svc = world
    listener = Listener()
    targets = hc.make_targets(tmp_path / "outside", listener.url)
    canary = Canary([targets.canary])
    try:
        listener.self_test()
        canary.self_test()
        corpus = hc.build(tmp_path / "work", targets, EVIL)
        for item in corpus:
            body = tus.upload(item.name, item.data)
            assert body["state"] == "ingested", (item.what, body)
            entry = body["receipt_entry"]
            assert isinstance(entry, dict)
            digest = hashlib.sha256(item.data).hexdigest()
            assert (entry["status"], entry["sha256"], entry["size"]) == (
                item.status, digest, len(item.data)), item.what  # fmt: skip
            if item.reason is not None:
                assert item.reason in (entry["reason"] or ""), (item.what, entry["reason"])
            got, size = svc.store.read_digests(f"originals/sha256/{digest[:2]}/{digest[2:4]}/"
                                               f"{digest}")  # fmt: skip
            assert (got["sha256"], size) == (digest, len(item.data)), item.what
        assert not [o for o in canary.poll(1.0) if o[0] == targets.canary]
        assert listener.connections == []
    finally:
        canary.close()
        listener.close()
    assert _outside_writes(tmp_path, tmp_path / "data", [EVIL]) == []
    assert svc.ledger.verify().ok


# Names a client may send in Upload-Metadata: each must stay one plain component inside
# the upload's folder, printable, and short enough for the filesystem (255 bytes).
ESCAPES = [
    "../../../../../../tmp/custos-escape-1.mp4",
    "..\\..\\..\\custos-escape-2.mp4",
    "/etc/custos-escape-3.mp4",
    "C:\\Windows\\System32\\custos-escape-4.dll",
    "custos-escape-5\x00.mp4",
    "\x1b]0;owned\x07\x1b[2Jcustos-escape-6.mp4",
    "custos-escape-7\r\n\t.mp4",
    ".",
    "..",
    "",
    "   ",
    "录" * 200 + ".mp4",  # 604 bytes: over NAME_MAX as bytes, though 204 characters
    "a" * 300 + ".mp4",
    "é" * 127 + ".mp4",  # 258 bytes
]


@pytest.mark.parametrize("name", ESCAPES, ids=range(len(ESCAPES)))
def test_upload_names_cannot_escape_or_break_the_folder(
    tmp_path: Path, world: tuple[Tus, Services], name: str
) -> None:
    tus, svc = world
    data = f"upload named {name!r}\n".encode() + os.urandom(16)
    body = tus.upload(name, data)
    assert body["state"] == "ingested", body
    entry = body["receipt_entry"]
    assert isinstance(entry, dict)
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    kept = str(entry["path"])  # the name as kept: what the receipt shows the sender
    # Text is never taken for media; named like media, it is flagged as not playable.
    claims = Path(kept).suffix.lower() in MEDIA_EXTENSIONS
    assert entry["status"] == ("unplayable" if claims else "not-media"), entry
    assert kept and kept not in (".", "..") and "/" not in kept and "\\" not in kept
    assert kept.isprintable(), repr(kept)
    assert len(kept.encode()) <= 255
    with svc.db.session() as session:
        stored = session.get(Recording, entry["recording_id"])
        assert stored is not None and stored.original_name == kept
    # Where the bytes were staged and read from: inside the upload's own folder.
    uploads = (tmp_path / "data" / "uploads").resolve()
    (acquired,) = [e for e in svc.ledger.events(entry["recording_id"]) if e.action == "acquired"]
    staged = Path(str(json.loads(acquired.details)["source_path"]))
    assert uploads in staged.parents and staged.name == kept, staged
    assert _outside_writes(tmp_path, tmp_path / "data", ["custos-escape"]) == []
    for target in ("/tmp/custos-escape-1.mp4", "/etc/custos-escape-3.mp4"):
        assert not Path(target).exists()
    # The staged copy is gone once the original is in the store.
    assert not list(uploads.glob("*/file/*"))
