"""Shared fixtures: real services on SQLite and on PostgreSQL.

PostgreSQL tests skip with a reason when no server answers locally, and fail in CI
(CI=true), where the server must be there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from storage.config import Settings
from storage.services import Services
from tests.needs import unavailable

REPO = Path(__file__).resolve().parents[1]
SHARED_MEDIA = REPO.parent / "shared" / "media"
PG_ADMIN_URL = os.environ.get(
    "CUSTOS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_available() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return f"{type(exc).__name__}: {exc}"
    return None


def require_postgres() -> None:
    problem = _pg_available()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {problem}")
    pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {problem}")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    require_postgres()
    name = f"custos_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'custos.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def make_services(tmp_path: Path) -> Iterator[object]:
    opened: list[Services] = []

    def factory(**overrides: object) -> Services:
        # Recorder times are read in UTC unless a test asks otherwise (`local_timezone=None`:
        # the machine's zone), so results do not depend on the machine running the suite.
        values: dict[str, object] = {
            "data_dir": tmp_path / "data",
            "actor": "tester",
            "local_timezone": "UTC",
        }
        values.update(overrides)
        svc = Services.open(Settings(**values))  # type: ignore[arg-type]
        opened.append(svc)
        return svc

    yield factory
    for svc in opened:
        svc.close()


@pytest.fixture
def svc(make_services: object, database_url: str) -> Services:
    """Services on a temp data folder, on each database in turn."""
    return make_services(database_url=database_url)  # type: ignore[operator,no-any-return]


@pytest.fixture
def svc_sqlite(make_services: object) -> Services:
    return make_services()  # type: ignore[operator,no-any-return]


def shared_media(*parts: str) -> Path:
    path = SHARED_MEDIA.joinpath(*parts)
    if not path.exists():
        unavailable(f"shared media not present: {path}")
    return path
