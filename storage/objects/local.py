"""Local-folder object store: the embedded default.

Writes go to `tmp/` inside the store, are fsynced, read back from the disk and checked
against the size and digest of what was read, then linked into place; a link fails if
the key exists, so nothing is ever overwritten and a crash leaves at most an orphan temp
file, never a half-written object under a real key. A short write (a full disk, a file
size limit) is completed or fails; it is never published. Originals are made read-only
on disk.
"""

from __future__ import annotations

import contextlib
import os
import stat as stat_mod
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from storage.errors import ObjectExists, ObjectLocked, ObjectNotFound, StorageError
from storage.objects.base import (
    ChunkCallback,
    ObjectStat,
    ObjectStore,
    PutResult,
    check_written,
    pump,
)
from storage.objects.hashing import MultiHasher, original_key

_HOLD_SUFFIX = ".legal-hold"
_RETAIN_SUFFIX = ".retain-until"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_all(fd: int, data: memoryview) -> None:
    """Write every byte of `data`: `write` may take fewer (a full disk, a file-size limit)."""
    while data:
        try:
            n = os.write(fd, data)
        except OSError as exc:
            raise StorageError(f"writing the object failed: {exc.strerror or exc}") from exc
        if n <= 0:
            raise StorageError("writing the object failed: the disk took no bytes")
        data = data[n:]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalObjectStore(ObjectStore):
    def __init__(
        self,
        root: Path,
        digests: tuple[str, ...] = ("sha256",),
        chunk_size: int = 4 * 1024 * 1024,
        retention_days: int = 3650,
    ) -> None:
        self.root = root.resolve()
        self.digests = digests
        self.chunk_size = chunk_size
        self.retention = timedelta(days=retention_days)
        self._tmp = self.root / "tmp"
        self._meta = self.root / ".protection"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._meta.mkdir(parents=True, exist_ok=True)

    # -- helpers ---------------------------------------------------------------
    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/") or key.startswith("tmp/"):
            raise ValueError(f"invalid object key {key!r}")
        return self.root / key

    def clean_orphans(self) -> int:
        """Remove temp files whose writing process is gone (a crash or kill -9)."""
        removed = 0
        for path in self._tmp.iterdir():
            pid_text = path.name.split("-", 1)[0]
            if pid_text.isdigit() and _alive(int(pid_text)):
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        return removed

    def _write_temp(
        self, stream: BinaryIO, on_chunk: ChunkCallback | None
    ) -> tuple[Path, MultiHasher, bytes]:
        tmp = self._tmp / f"{os.getpid()}-{uuid.uuid4().hex}"
        hasher = MultiHasher(self.digests)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:  # a full disk: the store's fault, not the source's
            raise StorageError(f"creating the object failed: {exc.strerror or exc}") from exc
        try:
            try:
                first = pump(
                    stream, lambda view: _write_all(fd, view), hasher, self.chunk_size, on_chunk
                )
                try:
                    os.fsync(fd)
                except OSError as exc:
                    raise StorageError(f"flushing the object failed: {exc.strerror}") from exc
            finally:
                os.close(fd)
            self._verify(tmp, hasher)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        return tmp, hasher, first

    def _verify(self, tmp: Path, hasher: MultiHasher) -> None:
        """Read back what the disk holds and compare with what was read from the source."""
        read = hasher.hexdigests()
        check = MultiHasher(("sha256",))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            # The bytes are on disk (fsync): drop them from the page cache, so the check
            # reads the disk, not the pages this process just handed to the kernel.
            with contextlib.suppress(OSError, AttributeError):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            with os.fdopen(os.dup(fd), "rb", buffering=0) as handle:
                buffer = bytearray(self.chunk_size)
                while n := handle.readinto(buffer):
                    check.update(memoryview(buffer)[:n])
        except OSError as exc:
            raise StorageError(f"reading the written object back failed: {exc}") from exc
        finally:
            os.close(fd)
        check_written("stored object", read, hasher.size, check.hexdigests(), check.size)

    def _publish(self, tmp: Path, dest: Path, read_only: bool) -> bool:
        """Link `tmp` to `dest` unless `dest` exists; True if this call created it."""
        try:
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(tmp, 0o444 if read_only else 0o644)
                os.link(tmp, dest)
                created = True
            except FileExistsError:
                created = False
            finally:
                tmp.unlink(missing_ok=True)
            if created:
                _fsync_dir(dest.parent)
        except OSError as exc:
            raise StorageError(f"publishing the object failed: {exc.strerror or exc}") from exc
        return created

    # -- interface -----------------------------------------------------------------
    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        worm: bool = False,
        content_type: str = "application/octet-stream",
        on_chunk: ChunkCallback | None = None,
    ) -> PutResult:
        dest = self._path(key)
        if dest.exists():
            raise ObjectExists(key)
        tmp, hasher, first = self._write_temp(stream, on_chunk)
        if not self._publish(tmp, dest, read_only=worm):
            raise ObjectExists(key)
        if worm:
            self._set_retention(key)
        return PutResult(key, hasher.size, hasher.hexdigests(), True, first)

    def put_content_addressed(
        self, stream: BinaryIO, *, on_chunk: ChunkCallback | None = None
    ) -> PutResult:
        tmp, hasher, first = self._write_temp(stream, on_chunk)
        digests = hasher.hexdigests()
        key = original_key(digests["sha256"])
        created = self._publish(tmp, self._path(key), read_only=True)
        if created or self._retain_until(key) is None:
            # Also when the object was there already: an earlier write may have died
            # (a full disk) between publishing it and recording its retention.
            self._set_retention(key)
        return PutResult(key, hasher.size, digests, created, first)

    def repair(self, key: str, stream: BinaryIO, *, sha256: str, size: int) -> PutResult:
        dest = self._path(key)
        before = self.stat(key)
        tmp, hasher, first = self._write_temp(stream, None)
        try:
            digests = hasher.hexdigests()
            check_written(f"repair of {key}", {"sha256": sha256}, size, digests, hasher.size)
            dest.parent.mkdir(parents=True, exist_ok=True)
            worm = key.startswith("originals/") or before is None or before.worm
            os.chmod(tmp, 0o444 if worm else 0o644)
            os.replace(tmp, dest)  # atomic: readers see the old bytes or the new, never half
            _fsync_dir(dest.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if worm and self._retain_until(key) is None:
            self._set_retention(key)
        return PutResult(key, hasher.size, digests, True, first)

    def open(self, key: str, start: int = 0, end: int | None = None) -> BinaryIO:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc
        if start:
            handle.seek(start)
        if end is None:
            return handle
        import io

        data = handle.read(max(0, end - start))
        handle.close()
        return io.BytesIO(data)

    def stat(self, key: str) -> ObjectStat | None:
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        retain = self._retain_until(key)
        return ObjectStat(
            key=key,
            size=st.st_size,
            modified=datetime.fromtimestamp(st.st_mtime, UTC),
            worm=not (st.st_mode & stat_mod.S_IWUSR),
            retain_until=retain,
            legal_hold=(self._meta / (key.replace("/", "~") + _HOLD_SUFFIX)).exists(),
        )

    def list(self, prefix: str = "") -> Iterator[str]:
        base = self.root
        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base):
            rel_dir = Path(dirpath).relative_to(base).as_posix()
            if rel_dir == ".":
                dirnames[:] = [d for d in dirnames if d not in ("tmp", ".protection")]
            for name in filenames:
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        yield from sorted(keys)

    def path_of(self, key: str) -> Path:
        """The file holding `key` (local store only): lets PyAV and ffmpeg read in place."""
        path = self._path(key)
        if not path.exists():
            raise ObjectNotFound(key)
        return path

    def local_file(self, key: str) -> Path | None:
        return self.path_of(key)

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        yield self.path_of(key)

    # -- protection ------------------------------------------------------------------
    def _meta_file(self, key: str, suffix: str) -> Path:
        return self._meta / (key.replace("/", "~") + suffix)

    def _set_retention(self, key: str) -> None:
        until = datetime.now(UTC) + self.retention
        # Written aside and renamed into place: a concurrent stat (two uploads anchoring
        # the same ledger checkpoint) read a half-written marker as '' and failed the
        # ingest (found by tests/reliability/test_load.py).
        marker = self._meta_file(key, _RETAIN_SUFFIX)
        tmp = marker.with_name(f"{marker.name}.{os.getpid()}-{uuid.uuid4().hex}.tmp")
        try:
            tmp.write_text(until.isoformat())
            os.replace(tmp, marker)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"recording the retention failed: {exc.strerror or exc}") from exc

    def _retain_until(self, key: str) -> datetime | None:
        path = self._meta_file(key, _RETAIN_SUFFIX)
        return datetime.fromisoformat(path.read_text()) if path.exists() else None

    def set_legal_hold(self, key: str, on: bool) -> None:
        if not self._path(key).exists():
            raise ObjectNotFound(key)
        marker = self._meta_file(key, _HOLD_SUFFIX)
        if on:
            marker.touch()
        else:
            marker.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        info = self.stat(key)
        if info is None:
            raise ObjectNotFound(key)
        if info.legal_hold:
            raise ObjectLocked(f"{key} is under legal hold")
        if info.retain_until and info.retain_until > datetime.now(UTC):
            raise ObjectLocked(f"{key} is retained until {info.retain_until.isoformat()}")
        self._path(key).unlink()
        self._meta_file(key, _RETAIN_SUFFIX).unlink(missing_ok=True)
