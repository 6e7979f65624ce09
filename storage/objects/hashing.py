"""Digests computed from the same bytes that are being stored."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence


class MultiHasher:
    """Feeds each chunk to every requested digest (SHA-256 always, SM3 optionally).

    hashlib releases the GIL for buffers over 2 KiB, so a thread calling `update`
    runs in parallel with the thread that writes the same chunk to storage.
    """

    def __init__(self, names: Sequence[str] = ("sha256",)) -> None:
        self._hashers = {name: hashlib.new(name) for name in dict.fromkeys(names)}
        self.size = 0

    def update(self, chunk: bytes | memoryview) -> None:
        for hasher in self._hashers.values():
            hasher.update(chunk)
        self.size += len(chunk)

    def hexdigests(self) -> dict[str, str]:
        return {name: hasher.hexdigest() for name, hasher in self._hashers.items()}


def digest_chunks(chunks: Iterable[bytes], names: Sequence[str] = ("sha256",)) -> dict[str, str]:
    hasher = MultiHasher(names)
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.hexdigests()


def original_key(sha256: str) -> str:
    """Content address of an original: `originals/sha256/ab/cd/<digest>`."""
    return f"originals/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def params_digest(params: dict[str, object]) -> str:
    """Stable digest of stage parameters (keys sorted, compact JSON)."""
    import json

    body = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def derived_key(source_sha256: str, stage: str, params_hash: str, name: str) -> str:
    """Deterministic key of a stage output, so a repeated job finds what it made."""
    return f"derived/{source_sha256[:2]}/{source_sha256}/{stage}/{params_hash[:16]}/{name}"
