"""One custody receipt for a dropped folder uploaded over tus: every file of the batch,
acquired or not, as JSON and as CSV."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.services.users import add_user, grant
from tests.api.http_world import PASSWORD, login, open_services

CASE = "UP-2"
TUS = {"Tus-Resumable": "1.0.0"}


def _meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def _upload(client: TestClient, auth: dict[str, str], name: str, body: bytes, *,
            send: int | None = None, batch: str = "evidence-room-7") -> str:  # fmt: skip
    r = client.post("/api/uploads/", headers={**auth, **TUS, "Upload-Length": str(len(body)),
                    "Upload-Metadata": _meta(filename=name, case=CASE, batch=batch)})  # fmt: skip
    assert r.status_code == 201, r.text
    url = r.headers["location"]
    part = body if send is None else body[:send]
    r = client.patch(url, headers={**auth, **TUS, "Upload-Offset": "0",
                     "Content-Type": "application/offset+octet-stream"}, content=part)  # fmt: skip
    assert r.status_code == 204, r.text
    return url


def test_a_batch_gets_one_receipt_of_every_file(tmp_path: Path) -> None:
    svc = open_services(tmp_path / "data")
    try:
        add_user(svc, "tech", "technician", PASSWORD)
        grant(svc, "tech", CASE)
        add_user(svc, "other", "technician", PASSWORD)
        grant(svc, "other", CASE)
        with TestClient(create_app(svc, resume_uploads=False)) as client:
            auth = {"Authorization": f"Bearer {login(client, 'tech')}"}
            junk = os.urandom(5000)
            _upload(client, auth, "0001.MP4", junk)  # acquired: stored, flagged unplayable
            _upload(client, auth, "0002.MP4", junk)  # the same bytes again: a duplicate
            _upload(client, auth, "0003.MP4", os.urandom(9000), send=4000)  # still uploading
            _upload(client, auth, "elsewhere.MP4", os.urandom(10), batch="another")

            r = client.get("/api/uploads/batches/evidence-room-7/receipt", headers=auth)
            assert r.status_code == 200, r.text
            receipt = r.json()
            by_name = {Path(f["path"]).name: f for f in receipt["files"]}
            assert set(by_name) == {"0001.MP4", "0002.MP4", "0003.MP4"}
            # Named as the sender named them: not the server's staging path.
            assert all(f["path"] == Path(f["path"]).name for f in receipt["files"]), receipt
            digest = hashlib.sha256(junk).hexdigest()
            assert by_name["0001.MP4"]["sha256"] == digest
            assert by_name["0001.MP4"]["status"] == "unplayable"  # stored and hashed, flagged
            assert by_name["0002.MP4"]["status"] == "duplicate"
            assert by_name["0002.MP4"]["recording_id"] == by_name["0001.MP4"]["recording_id"]
            assert by_name["0003.MP4"]["status"] == "upload-uploading"
            assert "4000 of 9000" in by_name["0003.MP4"]["reason"]
            assert receipt["finished_at"] is None  # not every file has arrived
            assert receipt["actor"] == "tech"

            r = client.get("/api/uploads/batches/evidence-room-7/receipt?format=csv",
                           headers=auth)  # fmt: skip
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
            assert "attachment" in r.headers["content-disposition"]
            rows = list(csv.DictReader(io.StringIO(r.text)))
            assert sorted(Path(row["path"]).name for row in rows) == ["0001.MP4", "0002.MP4",
                                                                    "0003.MP4"]  # fmt: skip
            assert {row["sha256"] for row in rows} >= {digest}

            # Someone else's batch of the same name is not theirs to read.
            other = {"Authorization": f"Bearer {login(client, 'other')}"}
            r = client.get("/api/uploads/batches/evidence-room-7/receipt", headers=other)
            assert r.status_code == 404
    finally:
        svc.close()
