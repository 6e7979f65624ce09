"""Readiness checks: the database, the object store and (when configured) the broker."""

from __future__ import annotations

from sqlalchemy import text

from storage.services import Services


def readiness(svc: Services) -> dict[str, str]:
    """`ok` or the problem, per dependency."""
    checks: dict[str, str] = {}
    try:
        with svc.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"{type(exc).__name__}: {exc}"
    try:
        svc.store.stat("ledger/readiness-probe")
        checks["store"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["store"] = f"{type(exc).__name__}: {exc}"
    if svc.settings.redis_url:
        try:
            import redis

            client = redis.Redis.from_url(svc.settings.redis_url, socket_timeout=2)
            client.ping()
            client.close()
            checks["broker"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["broker"] = f"{type(exc).__name__}: {exc}"
    return checks
