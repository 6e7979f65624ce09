"""The archive's one ledger signing key, as claimed in the shared database.

Hosts that share no disk each keep the private key in a file of their own. Two of them
making a key for the same empty archive (two API hosts started together, or keygen run
on each) would leave checkpoints signed by two keys, of which every host trusts one. So
the first key's public half is claimed in the database (one row, id 1), in a
transaction: the host whose insert lands keeps its key, the other removes the one it
just made and is told where the archive's key is.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.db.schema import LedgerKeyClaim
from storage.errors import LedgerError
from storage.ledger_keys import PublicKey, SigningKey, generate_key, public_key_path

_ROW = 1


def claimed_key(db: Database) -> LedgerKeyClaim | None:
    with db.sessions() as session:
        return session.scalar(select(LedgerKeyClaim).where(LedgerKeyClaim.id == _ROW))


def claim_key(db: Database, key: PublicKey) -> LedgerKeyClaim:
    """Claim `key` as the archive's; returns the claim that stands (another host's if it won)."""
    row = LedgerKeyClaim(
        id=_ROW,
        key_id=key.key_id,
        public_hex=key.hex,
        host=socket.gethostname(),
        claimed_at=datetime.now(UTC),
    )
    try:
        db.run(lambda s: s.add(row), retries=1)
    except IntegrityError:
        pass  # a claim is there already: it stands
    found = claimed_key(db)
    if found is None:
        raise LedgerError("the ledger key claim was neither written nor found")
    return found


def held_elsewhere(claim: LedgerKeyClaim, private_path: Path, *, making: bool = False) -> str:
    """What a host without the archive's key is told (`making`: it asked for a new one)."""
    head = (
        f"no new key made: this archive's ledger is signed with key {claim.key_id}"
        if making
        else f"ledger signing key missing: {private_path}; this archive's ledger is signed "
        f"with key {claim.key_id}"
    )
    return (
        f"{head}, made on {claim.host}: copy that key file to {private_path} (or point "
        f"CUSTOS_LEDGER_KEY_FILE at it), or set CUSTOS_LEDGER_PUBLIC_KEY={claim.public_hex} "
        f"to verify without signing"
    )


def make_archive_key(db: Database, path: Path, passphrase: bytes | None) -> SigningKey:
    """A new key at `path` that is claimed as the archive's; LedgerError if another is."""
    if path.exists():
        raise LedgerError(f"ledger signing key {path} already exists; not replaced")
    claim = claimed_key(db)
    if claim is not None:
        raise LedgerError(held_elsewhere(claim, path, making=True))
    key = generate_key(path, passphrase)
    claim = claim_key(db, key)
    if claim.public_hex != key.hex:
        forget_key(path)
        raise LedgerError(held_elsewhere(claim, path, making=True))
    return key


def forget_key(path: Path) -> None:
    """Remove a key this host just made and lost the claim with (it never signed anything)."""
    path.unlink(missing_ok=True)
    public_key_path(path).unlink(missing_ok=True)
