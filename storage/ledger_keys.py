"""The Ed25519 key pair that signs ledger checkpoints, and where it comes from.

The private key is a PKCS#8 PEM file, `CUSTOS_LEDGER_KEY_FILE` (default
`$CUSTOS_DATA_DIR/keys/ledger-ed25519.pem`), optionally encrypted with the passphrase in
`CUSTOS_LEDGER_KEY_PASSPHRASE`. It may live on a mount of its own (a removable volume,
an HSM export) so that whoever holds the database host does not also hold the key.
Hosts that only verify set `CUSTOS_LEDGER_PUBLIC_KEY` (a PEM file or the raw key in hex)
and need no private key at all.

Nothing here ever creates a key as a side effect of loading one: a missing key is
reported, and `generate_key` (first start on an empty ledger, or `custos ledger keygen`,
both through storage/ledger_claim.py) is the only way a key comes into being.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from storage.config import Settings
from storage.errors import LedgerError

PUBLIC_SUFFIX = ".pub.pem"
_RAW_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


class PublicKey:
    """An Ed25519 public key that verifies checkpoint signatures."""

    def __init__(self, public: Ed25519PublicKey) -> None:
        self._public = public
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.hex = raw.hex()
        self.fingerprint = hashlib.sha256(raw).hexdigest()
        self.key_id = self.fingerprint[:16]

    def verify(self, message: bytes, signature_hex: str) -> bool:
        try:
            self._public.verify(bytes.fromhex(signature_hex), message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def pem(self) -> bytes:
        return self._public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.hex == self.hex

    def __hash__(self) -> int:
        return hash(self.hex)


class SigningKey(PublicKey):
    """The private half as well: signs checkpoints."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        super().__init__(private.public_key())
        self._private = private

    def sign(self, message: bytes) -> str:
        return self._private.sign(message).hex()

    @property
    def public(self) -> PublicKey:
        return PublicKey(self._private.public_key())


@dataclass(frozen=True)
class LedgerKeys:
    """What this host holds: a key to sign with, a key to verify with, and why not."""

    signer: SigningKey | None
    verifier: PublicKey | None
    private_path: Path
    problem: str | None = None  # why `signer` is None (or why the keys cannot be trusted)
    missing: bool = False  # the private key file does not exist

    def require_signer(self) -> SigningKey:
        """The signing key, or a LedgerError saying why there is none."""
        if self.signer is None:
            raise LedgerError(self.problem or f"no ledger signing key at {self.private_path}")
        if self.verifier is not None and self.verifier != self.signer:
            raise LedgerError(self.problem or "the signing key does not match the public key")
        return self.signer


def ledger_passphrase(settings: Settings) -> bytes | None:
    secret = settings.ledger_key_passphrase
    return secret.get_secret_value().encode("utf-8") if secret is not None else None


def load_signing_key(path: Path, passphrase: bytes | None) -> SigningKey:
    """Read a private key; LedgerError naming the file when it cannot be used."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise LedgerError(f"ledger signing key missing: {path}") from exc
    except OSError as exc:
        raise LedgerError(f"ledger signing key {path} cannot be read: {exc}") from exc
    try:
        loaded = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as exc:  # passphrase given for a plain key, or none for an encrypted one
        raise LedgerError(
            f"ledger signing key {path}: {exc} (see CUSTOS_LEDGER_KEY_PASSPHRASE)"
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise LedgerError(
            f"ledger signing key {path} cannot be loaded (wrong passphrase or not a PEM key)"
        ) from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise LedgerError(f"{path} is not an Ed25519 private key")
    return SigningKey(loaded)


def parse_public_key(value: str) -> PublicKey:
    """A public key given as 64 hex digits (raw Ed25519), inline PEM, or a PEM file path."""
    text = value.strip()
    if _RAW_HEX.match(text):
        return PublicKey(Ed25519PublicKey.from_public_bytes(bytes.fromhex(text)))
    if text.startswith("-----BEGIN"):
        data = text.encode()
    else:
        try:
            data = Path(text).expanduser().read_bytes()
        except OSError as exc:
            raise LedgerError(f"CUSTOS_LEDGER_PUBLIC_KEY: cannot read {text}: {exc}") from exc
    try:
        loaded = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise LedgerError("CUSTOS_LEDGER_PUBLIC_KEY is not a PEM public key") from exc
    if not isinstance(loaded, Ed25519PublicKey):
        raise LedgerError("CUSTOS_LEDGER_PUBLIC_KEY is not an Ed25519 public key")
    return PublicKey(loaded)


def load_keys(settings: Settings) -> LedgerKeys:
    """Load what the settings name; never creates anything."""
    path = settings.resolved_ledger_key_file
    verifier: PublicKey | None = None
    if settings.ledger_public_key:
        try:
            verifier = parse_public_key(settings.ledger_public_key)
        except LedgerError as exc:
            return LedgerKeys(None, None, path, str(exc))
    if not path.exists():
        hint = (
            "create it once with `custos ledger keygen`, or point CUSTOS_LEDGER_KEY_FILE at it"
            if verifier is None
            else "this host can verify (CUSTOS_LEDGER_PUBLIC_KEY) but not sign"
        )
        return LedgerKeys(
            None, verifier, path, f"ledger signing key missing: {path} ({hint})", missing=True
        )
    try:
        signer = load_signing_key(path, ledger_passphrase(settings))
    except LedgerError as exc:
        return LedgerKeys(None, verifier, path, str(exc))
    if verifier is not None and verifier != signer:
        return LedgerKeys(
            signer,
            verifier,
            path,
            f"ledger signing key {path} (key {signer.key_id}) does not match "
            f"CUSTOS_LEDGER_PUBLIC_KEY (key {verifier.key_id})",
        )
    return LedgerKeys(signer, verifier or signer.public, path)


def generate_key(path: Path, passphrase: bytes | None = None) -> SigningKey:
    """Create a new private key at `path` (refused if it exists) and its `.pub.pem`."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise LedgerError(f"ledger signing key {path} already exists; not replaced") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    key = SigningKey(private)
    public_path = public_key_path(path)
    public_path.unlink(missing_ok=True)
    public_path.write_bytes(key.pem())
    return key


def public_key_path(private_path: Path) -> Path:
    name = private_path.name.removesuffix(".pem")
    return private_path.with_name(name + PUBLIC_SUFFIX)
