from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from storage.db.schema import IngestRun
from storage.services import Services


def test_sqlite_is_durable_and_checks_foreign_keys(svc_sqlite: Services) -> None:
    with svc_sqlite.db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_times_come_back_aware_utc(svc: Services) -> None:
    local = datetime(2026, 11, 3, 22, 15, tzinfo=timezone(timedelta(hours=8)))
    svc.db.run(
        lambda s: s.add(
            IngestRun(id="r1", started_at=local, actor="a", host="h", params={}, counts={})
        )
    )
    with svc.db.session() as session:
        run = session.get(IngestRun, "r1")
        assert run is not None
        assert run.started_at == local
        assert run.started_at.tzinfo is not None
        assert run.started_at.utcoffset() == timedelta(0)


def test_naive_times_are_refused(svc_sqlite: Services) -> None:
    from sqlalchemy.exc import StatementError

    with pytest.raises(StatementError, match="naive"):
        svc_sqlite.db.run(
            lambda s: s.add(
                IngestRun(
                    id="r2",
                    started_at=datetime(2026, 1, 1),
                    actor="a",
                    host="h",
                    params={},
                    counts={},
                )
            ),
            retries=1,
        )
    with svc_sqlite.db.session() as session:
        assert session.get(IngestRun, "r2") is None, "a naive time was stored"
