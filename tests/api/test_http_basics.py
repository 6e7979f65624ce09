"""The app's boundary: health, readiness, OpenAPI, metrics, login, problem responses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.services.users import LoginThrottle, add_user, grant, revoke
from storage.services import Services
from tests.api.http_world import PASSWORD, World, build_world, login, open_services


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    svc = open_services(tmp_path / "data")
    try:
        yield from build_world(svc)
    finally:
        svc.close()


def test_health_ready_openapi_metrics(world: World) -> None:
    c = world.client
    assert c.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = c.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "store": "ok"}
    schema = c.get("/openapi.json").json()
    assert "/api/recordings/{recording_id}/media/{kind}" in schema["paths"]
    c.get("/api/cases", headers=world.auth("reviewer"))
    text = c.get("/metrics").text
    assert "custos_http_request_duration_seconds_bucket" in text
    assert 'route="/api/cases"' in text
    assert "custos_jobs" in text


def test_problem_json_for_errors(world: World) -> None:
    r = world.client.get("/api/cases")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["status"] == 401
    r = world.client.get("/api/search", headers=world.auth("reviewer"))  # q missing
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    r = world.client.get("/api/nowhere")
    assert r.status_code == 404 and r.json()["title"] == "Not Found"


def test_token_login_and_bad_tokens(world: World) -> None:
    c = world.client
    r = c.post("/api/auth/token", data={"username": "reviewer", "password": PASSWORD})
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    me = c.get("/api/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {"name": "reviewer", "role": "reviewer", "cases": ["C-OWN-1"],
                         "disabled": False}  # fmt: skip
    assert c.get("/api/users/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert c.post("/api/auth/token", data={"username": "reviewer", "password": "x" * 9}
                  ).status_code == 401  # fmt: skip
    # the token is stored only as its digest
    from sqlalchemy import select

    from api.services.users import TokenRow

    with world.svc.db.session() as s:
        stored = list(s.scalars(select(TokenRow.token_sha256)))
    assert body["access_token"] not in stored


def test_revoked_user_loses_tokens(world: World) -> None:
    revoke(world.svc, "reviewer")
    assert world.client.get("/api/cases", headers=world.auth("reviewer")).status_code == 401
    r = world.client.post("/api/auth/token", data={"username": "reviewer", "password": PASSWORD})
    assert r.status_code == 401


def test_login_throttled_per_user_and_address(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    svc = open_services(tmp_path / "d")
    try:
        add_user(svc, "tina", "technician", PASSWORD)
        app = create_app(svc, throttle=LoginThrottle(max_failures=3, window_s=60),
                         resume_uploads=False)  # fmt: skip
        with TestClient(app) as c:
            for _ in range(3):
                r = c.post("/api/auth/token", data={"username": "tina", "password": "wrong-pw"})
                assert r.status_code == 401
            r = c.post("/api/auth/token", data={"username": "tina", "password": PASSWORD})
            assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
            assert r.headers["content-type"] == "application/problem+json"
    finally:
        svc.close()


def test_ledger_actor_is_the_authenticated_user(world: World) -> None:
    r = world.client.get(f"/api/recordings/{world.own_rec}/transcript?format=txt",
                         headers=world.auth("reviewer"))  # fmt: skip
    assert r.status_code == 200 and "horizon" in r.text
    last = world.svc.ledger.events(world.own_rec)[-1]
    assert (last.actor, last.action) == ("reviewer", "access.transcript")


def test_cli_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from api.cli import app
    from storage.config import get_settings

    monkeypatch.setenv("CUSTOS_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.setenv("CUSTOS_ACTOR", "admin-op")
    get_settings.cache_clear()
    runner = CliRunner()
    r = runner.invoke(app, ["user", "add", "rita", "--role", "reviewer", "--password-stdin"],
                      input=PASSWORD + "\n")  # fmt: skip
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["user", "add", "bad", "--role", "chief", "--password-stdin"],
                      input=PASSWORD + "\n")  # fmt: skip
    assert r.exit_code == 2
    assert runner.invoke(app, ["user", "grant", "rita", "--case", "K1"]).exit_code == 0
    assert runner.invoke(app, ["user", "grant", "rita", "--case", "K2"]).exit_code == 0
    assert runner.invoke(app, ["user", "revoke", "rita", "--case", "K1"]).exit_code == 0
    r = runner.invoke(app, ["user", "list", "--json"])
    assert '"K2"' in r.output and '"K1"' not in r.output and '"reviewer"' in r.output
    get_settings.cache_clear()
    svc: Services = open_services(tmp_path / "cli")
    try:
        actions = [(e.actor, e.action) for e in svc.ledger.events("rita")]
        assert ("admin-op", "user.added") in actions and ("admin-op", "user.revoked") in actions
        grant(svc, "rita", "K3")
    finally:
        svc.close()
    assert login is not None
