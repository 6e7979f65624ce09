"""An upload whose acquisition is interrupted by a fault outside the file (here the
ledger checkpoint failing, as it did under load) is not lost: it stays complete, says
why, and is acquired when the server starts again, exactly once."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.services.uploads import Uploads
from api.services.users import add_user, grant
from storage.db.schema import Recording
from storage.errors import LedgerError
from tests.api.http_world import PASSWORD, login, open_services

CASE = "H-UP-2"


def test_upload_interrupted_by_a_ledger_fault_is_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = open_services(tmp_path / "data")
    add_user(svc, "tech", "technician", PASSWORD)
    grant(svc, "tech", CASE)
    data = os.urandom(64 * 1024)
    real_checkpoint = svc.ledger.checkpoint
    calls = []

    def failing_once() -> object:
        calls.append(1)
        if len(calls) == 1:
            raise LedgerError("the object store refused the checkpoint (injected)")
        return real_checkpoint()

    monkeypatch.setattr(svc.ledger, "checkpoint", failing_once)
    try:
        with TestClient(create_app(svc, resume_uploads=False)) as client:
            auth = {"Authorization": f"Bearer {login(client, 'tech')}", "Tus-Resumable": "1.0.0"}
            meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}"
                            for k, v in {"filename": "note.bin", "case": CASE}.items())  # fmt: skip
            made = client.post("/api/uploads/", headers={
                **auth, "Upload-Length": str(len(data)), "Upload-Metadata": meta})  # fmt: skip
            url = made.headers["location"]
            sent = client.patch(url, content=data, headers={
                **auth, "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream"})  # fmt: skip
            assert sent.status_code == 204
            body = client.get(url, headers=auth).json()
        assert body["state"] == "complete", body
        assert "LedgerError" in body["error"] and "retried" in body["error"], body
        # The next start acquires it.
        (done,) = Uploads.for_services(svc).resume(svc)
        assert done.state == "ingested", done
        assert done.receipt_entry is not None
        assert done.receipt_entry["sha256"] == hashlib.sha256(data).hexdigest()
        with svc.db.session() as session:
            count = session.scalar(select(func.count()).select_from(Recording))
        assert count == 1  # recorded once, though acquisition ran twice
        assert svc.ledger.verify().ok
    finally:
        svc.close()
