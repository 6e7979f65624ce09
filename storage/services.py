"""The handles every stage needs, built once per process from settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.config import Settings, get_settings
from storage.db import Database, migrate
from storage.ledger import Ledger, SigningKey
from storage.objects import ObjectStore, open_store


@dataclass
class Services:
    settings: Settings
    db: Database
    store: ObjectStore
    ledger: Ledger

    @property
    def actor(self) -> str:
        return self.settings.actor

    def record(self, action: str, subject: str, details: dict[str, Any] | None = None) -> None:
        """Ledger one event in its own transaction, as the configured actor."""
        self.ledger.record(actor=self.actor, action=action, subject=subject, details=details)

    @classmethod
    def open(cls, settings: Settings | None = None, *, run_migrations: bool = True) -> Services:
        settings = settings or get_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        if run_migrations:
            migrate(db)
        key = SigningKey.load_or_create(settings.data_dir.resolve() / "keys")
        return cls(settings, db, open_store(settings), Ledger(db, key))

    def close(self) -> None:
        self.db.dispose()
