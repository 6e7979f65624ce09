"""PostgreSQL for the cases tests: each test still gets a fresh database, cloned from one
migrated template (CREATE DATABASE ... TEMPLATE), which is much faster than migrating
every time."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text

from storage.db import Database, migrate
from storage.services import Services
from tests.conftest import PG_ADMIN_URL, require_postgres


def _url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    require_postgres()
    name = f"custos_cases_tpl_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(_url(name))
    try:
        migrate(db)
    finally:
        db.dispose()
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url(_pg_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, already migrated."""
    name = f"custos_cases_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_pg_template}"'))
    try:
        yield _url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def svc(database_url: str, make_services: Callable[..., Services]) -> Services:
    """Services on each database in turn; asking for the database first means the
    services close before it is dropped, so the drop has no sessions to terminate."""
    return make_services(database_url=database_url)
