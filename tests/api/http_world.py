"""A small world for the HTTP tests: services, users of every role, two cases, recordings
with derivatives and transcripts, and a TestClient over the real app."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.services.users import ROLES, add_user, grant
from cases.tables import Case
from models.speech.transcribe import Segment, Transcript
from models.speech.transcripts import replace_transcripts
from storage.config import Settings
from storage.db.schema import Recording
from storage.derived import store_derivative
from storage.services import Services
from tests.factories import add_recording

PASSWORD = "correct horse battery"
OWN, OTHER = "C-OWN-1", "C-OTHER-2"
DERIVED = ("mezzanine", "proxy", "poster", "thumbs", "audio16k")


@dataclass
class World:
    svc: Services
    client: TestClient
    own_rec: str
    other_rec: str
    tokens: dict[str, str] = field(default_factory=dict)  # user name -> bearer token
    media: dict[str, bytes] = field(default_factory=dict)  # derivative kind -> bytes (own)
    original: bytes = b""

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


def open_services(data_dir: Path, database_url: str | None = None, **extra: object) -> Services:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "actor": "tester",
        "local_timezone": "UTC",
        "pipeline_stages": [],
        **extra,
    }
    if database_url:
        values["database_url"] = database_url
    return Services.open(Settings(**values))  # type: ignore[arg-type]


def _add_case(svc: Services, case_no: str) -> None:
    now = datetime.now(UTC)
    svc.db.run(lambda s: s.add(Case(case_no=case_no, title=case_no, opened_at=now - timedelta(
        days=1), created_at=now, created_by="tester")))  # fmt: skip


def _add_media(svc: Services, rec_id: str, seed: int) -> dict[str, bytes]:
    with svc.db.session() as session:
        rec = session.get(Recording, rec_id)
        assert rec is not None
    out = {}
    for i, kind in enumerate(DERIVED):
        body = os.urandom(1000) + bytes([seed, i]) * (150_000 + i * 1000)
        store_derivative(svc, rec, stage="normalise", params_hash="p" * 64, kind=kind,
                         name=f"{kind}.bin", source=io.BytesIO(body))  # fmt: skip
        out[kind] = body
    seg = Segment(start=1.0, end=2.0, text="the horizon seems extremely distant",
                  language="en", language_probability=1.0, avg_logprob=-0.1,
                  no_speech_prob=0.0, compression_ratio=1.0, confidence=0.9,
                  speech_ratio=1.0)  # fmt: skip
    svc.db.run(lambda s: replace_transcripts(s, rec_id, "t" * 64, [Transcript(
        recording_id=rec_id, stream_index=0, stream_label="audio 1", status="done",
        language="en", segments=[seg])]))  # fmt: skip
    return out


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    response = client.post("/api/auth/token", data={"username": name, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def build_world(svc: Services) -> Iterator[World]:
    _add_case(svc, OWN)
    _add_case(svc, OTHER)
    original = os.urandom(64 * 1024 + 17)
    own = add_recording(svc, original, case_no=OWN, original_name="own.mp4")
    other = add_recording(svc, os.urandom(4096), case_no=OTHER, original_name="other.mp4")
    media = _add_media(svc, own, 1)
    _add_media(svc, other, 2)
    for role in ROLES:
        add_user(svc, role, role, PASSWORD)
        if role not in ("auditor", "admin"):
            grant(svc, role, OWN)
    add_user(svc, "outsider", "reviewer", PASSWORD)
    grant(svc, "outsider", OTHER)
    app = create_app(svc, resume_uploads=False)
    with TestClient(app) as client:
        world = World(svc, client, own, other, media=media, original=original)
        for name in (*ROLES, "outsider"):
            world.tokens[name] = login(client, name)
        yield world
