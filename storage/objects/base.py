"""The object-store interface that every backend implements.

Two operations write: `put` (derived outputs at a known key) and
`put_content_addressed` (originals, whose key is their SHA-256, known only after the
last byte). Both hash while writing, so a stream is read exactly once.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from queue import Queue
from typing import BinaryIO

from storage.errors import StoredObjectMismatch
from storage.objects.hashing import MultiHasher

ChunkCallback = Callable[[memoryview], None]


@dataclass(frozen=True)
class PutResult:
    key: str
    size: int
    digests: dict[str, str]
    created: bool  # False: identical bytes were already stored under that key
    first_chunk: bytes = b""  # the head of the stream, for content sniffing without a re-read


@dataclass(frozen=True)
class ObjectStat:
    key: str
    size: int
    modified: datetime | None = None
    worm: bool = False
    retain_until: datetime | None = None
    legal_hold: bool = False
    metadata: dict[str, str] = field(default_factory=dict)


class ObjectStore(ABC):
    """Write-once object storage."""

    digests: tuple[str, ...] = ("sha256",)
    chunk_size: int = 4 * 1024 * 1024

    @abstractmethod
    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        worm: bool = False,
        content_type: str = "application/octet-stream",
        on_chunk: ChunkCallback | None = None,
    ) -> PutResult:
        """Store a stream at `key`; raises ObjectExists if the key is taken."""

    @abstractmethod
    def put_content_addressed(
        self, stream: BinaryIO, *, on_chunk: ChunkCallback | None = None
    ) -> PutResult:
        """Store an original under its SHA-256 address, write-once with retention."""

    @abstractmethod
    def repair(self, key: str, stream: BinaryIO, *, sha256: str, size: int) -> PutResult:
        """Replace a damaged or missing object with a good copy of the same bytes.

        The one exception to write-once, and only for bytes identical to what the key
        was recorded with: `stream` is stored and verified like any write, and replaces
        the object at `key` only if its SHA-256 and size are `sha256` and `size`
        (StoredObjectMismatch otherwise, the object left as it was). The object keeps
        its protection (write-once, retention, legal hold).
        """

    @abstractmethod
    def open(self, key: str, start: int = 0, end: int | None = None) -> BinaryIO:
        """Read `key`, optionally only bytes [start, end) ."""

    @abstractmethod
    def stat(self, key: str) -> ObjectStat | None:
        """Size and protection of `key`, or None if absent."""

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under `prefix`, sorted."""

    @abstractmethod
    def set_legal_hold(self, key: str, on: bool) -> None:
        """Place or lift a legal hold on an object."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; refuses WORM objects under retention or legal hold."""

    def clean_orphans(self) -> int:
        """Remove partial writes left by a crashed writer; returns how many were removed."""
        return 0

    def local_file(self, key: str) -> Path | None:
        """The file holding `key` when the store is a local folder, else None."""
        return None

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """A filesystem path with the object's bytes (a temporary copy for remote stores)."""
        import shutil
        import tempfile

        with tempfile.TemporaryDirectory(prefix="custos-obj-") as tmp:
            path = Path(tmp) / Path(key).name
            with self.open(key) as src, path.open("wb") as dst:
                shutil.copyfileobj(src, dst, self.chunk_size)
            yield path

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as handle:
            return handle.read()

    def read_digests(
        self, key: str, names: tuple[str, ...] = ("sha256",)
    ) -> tuple[dict[str, str], int]:
        """Hash what is stored at `key` (digests, size); ObjectNotFound if absent."""
        hasher = MultiHasher(names)
        with self.open(key) as handle:
            while chunk := handle.read(self.chunk_size):
                hasher.update(chunk)
        return hasher.hexdigests(), hasher.size


def check_written(
    what: str, digests: dict[str, str], size: int, found: dict[str, str], found_size: int
) -> None:
    """Raise StoredObjectMismatch unless what was stored is what was read."""
    if found_size != size:
        raise StoredObjectMismatch(f"{what}: the store holds {found_size} bytes, {size} were read")
    for name, value in found.items():
        if digests.get(name, value) != value:
            raise StoredObjectMismatch(
                f"{what}: the stored bytes have {name} {value}, the bytes read {digests[name]}"
            )


def pump(
    stream: BinaryIO,
    sink: Callable[[memoryview], object],
    hasher: MultiHasher,
    chunk_size: int,
    on_chunk: ChunkCallback | None = None,
) -> bytes:
    """Copy `stream` to `sink` while hashing, hashing on a second thread.

    Hashing and writing the same chunk overlap, so storing costs little more than
    hashing alone. Returns the first chunk (for content sniffing).
    """
    work: Queue[memoryview | None] = Queue(maxsize=4)
    failure: list[BaseException] = []

    def hash_loop() -> None:
        while (chunk := work.get()) is not None:
            try:
                hasher.update(chunk)
            except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread
                failure.append(exc)

    thread = threading.Thread(target=hash_loop, name="custos-hash", daemon=True)
    thread.start()
    first = b""
    # Rotate a few preallocated buffers: a buffer is reused only after the hasher
    # has certainly finished with it (the queue holds at most 4, we keep 6).
    # Buffers are made on first use, so a small output costs one buffer, not six.
    buffers: list[bytearray] = []
    index = 0
    try:
        while True:
            if len(buffers) < 6:
                buffers.append(bytearray(chunk_size))
            buf = buffers[index % 6]
            index += 1
            n = stream.readinto(buf)  # type: ignore[attr-defined]
            if not n:
                break
            view = memoryview(buf)[:n]
            if not first:
                first = bytes(view[:65536])
            work.put(view)
            sink(view)
            if on_chunk is not None:
                on_chunk(view)
            if failure:
                break
    finally:
        work.put(None)
        thread.join()
    if failure:
        raise failure[0]
    return first
