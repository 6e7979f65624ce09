"""The handles every stage needs, built once per process from settings."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from storage.config import Settings, get_settings
from storage.db import Database, migrate
from storage.errors import LedgerError
from storage.ledger import Ledger
from storage.ledger_keys import create_ledger_key, load_keys
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
    def open(
        cls,
        settings: Settings | None = None,
        *,
        run_migrations: bool = True,
        create_key: bool = True,
    ) -> Services:
        """Connect to the database and the object store and load the ledger key.

        The ledger's signing key is created here only on the very first start: no key
        file, no public key configured (a verify-only host never makes one), and a
        ledger with no event and no checkpoint anywhere. Otherwise a missing key stays
        missing: checkpoints then fail and `custos ledger verify` says so.
        """
        settings = settings or get_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        if run_migrations:
            migrate(db)
        store = open_store(settings)
        ledger = Ledger(db, store, load_keys(settings))
        if (
            create_key
            and ledger.keys.missing
            and ledger.keys.verifier is None
            and ledger.is_empty()
        ):
            with contextlib.suppress(LedgerError):  # another process made it just now
                create_ledger_key(settings)
            ledger = Ledger(db, store, load_keys(settings))
        return cls(settings, db, store, ledger)

    def close(self) -> None:
        self.db.dispose()
