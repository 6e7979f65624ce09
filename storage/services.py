"""The handles every stage needs, built once per process from settings."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from storage.config import ServiceUnreachable, Settings, get_settings
from storage.db import Database, migrate
from storage.errors import LedgerError, StorageError
from storage.ledger import Ledger
from storage.ledger_claim import claimed_key, held_elsewhere, make_archive_key
from storage.ledger_keys import LedgerKeys, ledger_passphrase, load_keys
from storage.objects import ObjectStore, open_store


def _archive_key(settings: Settings, db: Database, *, create: bool) -> LedgerKeys:
    """The keys of a host without a key file: the archive's first key made and claimed
    here when `create` and no other host's claim came first (storage/ledger_claim.py);
    otherwise what is missing, naming the archive's key when one is claimed."""
    if create:
        with contextlib.suppress(LedgerError):  # claimed elsewhere, or made just now here
            make_archive_key(db, settings.resolved_ledger_key_file, ledger_passphrase(settings))
    keys = load_keys(settings)
    if keys.signer is not None or keys.verifier is not None:
        return keys
    claim = claimed_key(db)
    if claim is None:
        return keys
    return replace(keys, problem=held_elsewhere(claim, keys.private_path))


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
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ServiceUnreachable(
                f"CUSTOS_DATA_DIR={settings.data_dir}: cannot use it as the archive folder "
                f"({exc.strerror or exc}); set it to a folder this user may write"
            ) from exc
        db = _open_database(settings, run_migrations=run_migrations)
        try:
            store = _open_store(settings)
        except BaseException:
            db.dispose()
            raise
        ledger = Ledger(db, store, load_keys(settings))
        if ledger.keys.missing:
            create = create_key and ledger.keys.verifier is None and ledger.is_empty()
            ledger = Ledger(db, store, _archive_key(settings, db, create=create))
        return cls(settings, db, store, ledger)

    def close(self) -> None:
        self.db.dispose()


def _shown_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _open_database(settings: Settings, *, run_migrations: bool) -> Database:
    """The database, connected (and migrated): one line naming the setting if it cannot be."""
    url = settings.resolved_database_url
    name = "CUSTOS_DATABASE_URL" if settings.database_url else "CUSTOS_DATA_DIR"
    shown = _shown_url(url) if settings.database_url else str(settings.data_dir)
    try:
        db = Database(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ServiceUnreachable(f"{name}={shown}: not a usable database URL ({exc})") from exc
    try:
        if run_migrations:
            migrate(db)
        else:
            with db.engine.connect():
                pass
    except DBAPIError as exc:
        db.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        if "does not exist" in reason:
            database = make_url(url).database or "NAME"
            fix = f"create that database (createdb {database}) or fix its name in the URL"
        elif "password" in reason or "authentication" in reason:
            fix = "fix the user name or password in the URL"
        else:
            fix = "start the database server or fix the host and port in the URL"
        raise ServiceUnreachable(
            f"{name}={shown}: cannot open the database ({reason}); {fix}"
        ) from exc
    return db


def _open_store(settings: Settings) -> ObjectStore:
    """The object store; an S3 endpoint that does not answer fails at once, in one line."""
    if settings.object_store != "s3":
        return open_store(settings)
    endpoint = settings.s3_endpoint or ""
    host, _, port = endpoint.rpartition(":") if ":" in endpoint else (endpoint, "", "")
    try:
        port_no = int(port) if port else (443 if settings.s3_secure else 80)
        socket.create_connection((host, port_no), timeout=5).close()
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise ServiceUnreachable(
            f"CUSTOS_S3_ENDPOINT={endpoint}: no S3 server answers there ({why}); "
            "start MinIO/S3 there, or fix CUSTOS_S3_ENDPOINT (HOST:PORT)"
        ) from exc
    try:
        return open_store(settings)
    except StorageError as exc:
        raise ServiceUnreachable(
            f"CUSTOS_S3_ENDPOINT={endpoint} CUSTOS_S3_BUCKET={settings.s3_bucket}: {exc}"
        ) from exc
