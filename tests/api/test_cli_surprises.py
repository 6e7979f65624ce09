"""Nothing surprising passes in silence: each case a new user met, through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from storage.config import Settings, get_settings
from storage.services import Services
from tests.factories import make_recording


@pytest.fixture
def svc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    data = tmp_path / "data"
    for name in [k for k in os.environ if k.startswith("CUSTOS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CUSTOS_DATA_DIR", str(data))
    monkeypatch.setenv("CUSTOS_ACTOR", "clerk")
    get_settings.cache_clear()
    opened = Services.open(Settings(data_dir=data, actor="clerk"))
    yield opened
    opened.close()
    get_settings.cache_clear()


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _add(svc: Services, name: str, **fields: object) -> str:
    rec = make_recording(svc.store, f"{name} {uuid.uuid4()}".encode(), original_name=name, **fields)
    rec_id = rec.id
    svc.db.run(lambda session: session.add(rec))
    return rec_id


def test_fixity_on_a_new_archive_says_it_is_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [k for k in os.environ if k.startswith("CUSTOS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CUSTOS_DATA_DIR", str(tmp_path / "custos-dtaa"))  # misspelt
    get_settings.cache_clear()
    code, out = _run("fixity")
    get_settings.cache_clear()
    assert "checked 0 originals" in out
    assert "new or empty" in out and "CUSTOS_DATA_DIR" in out, out


def test_hold_twice_and_lift_without_hold_are_refused(svc: Services) -> None:
    rec_id = _add(svc, "held.mp4")
    code, out = _run("hold", "lift", rec_id)
    assert code == 1 and "no legal hold to lift" in out, out
    code, out = _run("hold", "set", rec_id, "--reason", "appeal")
    assert code == 0 and "placed on" in out, out
    code, out = _run("hold", "set", rec_id, "--reason", "appeal")
    assert code == 1 and "already under legal hold" in out, out
    code, out = _run("hold", "lift", rec_id)
    assert code == 0 and "lifted from" in out, out


def test_tracks_on_an_audio_recording_says_detection_does_not_apply(svc: Services) -> None:
    rec_id = _add(svc, "interview.wav", media_kind="audio")
    code, out = _run("tracks", rec_id)
    assert code == 1
    assert "not video" in out and "not been through detection" not in out, out


def test_reingest_with_another_case_says_the_case_is_kept(svc: Services, tmp_path: Path) -> None:
    from ingest.sample_dump import make_sample_dump

    dump = tmp_path / "dump"
    make_sample_dump(dump, seconds=1.0)
    code, out = _run("ingest", str(dump), "--case", "A-1", "--no-process", "--json")
    assert code in (0, 3), out
    code, out = _run("ingest", str(dump), "--case", "B-2", "--no-process", "--json")
    receipt = json.loads(out[out.index("{") :])
    dups = [f for f in receipt["files"] if f["recording_id"]]
    assert dups, receipt
    for f in dups:
        assert "keeps case A-1, not B-2" in f["reason"], f
        assert "custos case link" in f["reason"]


def test_jobs_wait_on_redis_without_a_worker_says_so(tmp_path: Path) -> None:
    from ingest.sample_dump import make_sample_dump
    from tests.workers.redis_server import RedisServer

    redis = RedisServer(tmp_path / "redis").start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
        env["CUSTOS_DATA_DIR"] = str(tmp_path / "data")
        env["CUSTOS_REDIS_URL"] = redis.url
        env["CUSTOS_PIPELINE_STAGES"] = "normalise"
        dump = tmp_path / "dump"
        make_sample_dump(dump, seconds=1.0)

        def custos(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "api", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )

        assert custos("ingest", str(dump), "--no-process").returncode in (0, 3)
        done = custos("jobs", "--wait", "--timeout", "25")
        assert done.returncode == 4, done.stderr
        assert "no worker has started a job" in done.stderr, done.stderr
        assert "custos worker" in done.stderr
    finally:
        redis.kill()
