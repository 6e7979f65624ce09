"""S3 / MinIO object store (the scaled-out backend), through the `minio` client.

Every write streams once into a temporary key under `incoming/` (multipart for large
files, hashed on the way by `pump`), then a server-side multipart copy places it at
its final key and completes only with `If-None-Match: *`. The server refuses the
completion if the key exists, so two writers can never overwrite each other, and a
crash leaves at most an `incoming/` object, never a half-written object under
`originals/`.

Protection: when the bucket has object lock, WORM objects get a retention period and
legal holds use the S3 legal-hold API, so the server enforces them. Without object
lock Custos records both itself (object metadata, an object tag) and `delete` refuses
protected objects in either case, because a plain `DELETE` on a versioned bucket only
hides an object behind a delete marker and the server would happily accept it.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from queue import Empty, Full, Queue
from typing import TYPE_CHECKING, BinaryIO, Literal, cast
from xml.etree import ElementTree as ET

import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE, GOVERNANCE, CopySource, Tags
from minio.datatypes import Object
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.helpers import md5sum_hash
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from storage.errors import (
    ObjectExists,
    ObjectLocked,
    ObjectNotFound,
    StorageError,
    TransientStorageError,
)
from storage.objects.base import ChunkCallback, ObjectStat, ObjectStore, PutResult, pump
from storage.objects.hashing import MultiHasher, original_key

if TYPE_CHECKING:
    from storage.config import Settings

INCOMING = "incoming/"  # temporary keys; never listed, never addressable through the store
MAX_COPY_PART = 5 * 1024**3  # S3 limit for one UploadPartCopy
_META_WORM = "custos-worm"
_META_RETAIN = "custos-retain-until"  # only without object lock
_HOLD_TAG = "custos-legal-hold"  # only without object lock

_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "OperationAborted",
        "ConditionalRequestConflict",  # a concurrent conditional write: retry decides
        "XMinioServerNotInitialized",
        "XMinioStorageFull",
    }
)
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchUpload"})


def _translate(exc: Exception, key: str) -> StorageError:
    """Map a minio/urllib3 fault onto the storage package's errors."""
    if isinstance(exc, S3Error):
        code = exc.code or ""
        message = (exc.message or "").lower()
        if code in _NOT_FOUND_CODES:
            return ObjectNotFound(key)
        if code == "PreconditionFailed":
            return ObjectExists(key)
        if code == "AccessDenied" and ("lock" in message or "worm" in message):
            return ObjectLocked(f"{key}: {exc.message}")
        if code in _TRANSIENT_CODES:
            return TransientStorageError(f"{key}: {code}: {exc.message}")
        return StorageError(f"{key}: {code}: {exc.message}")
    if isinstance(exc, ServerError | InvalidResponseError | Urllib3HTTPError | OSError):
        return TransientStorageError(f"{key}: {type(exc).__name__}: {exc}")
    return StorageError(f"{key}: {type(exc).__name__}: {exc}")


_BACKEND_ERRORS = (S3Error, ServerError, InvalidResponseError, Urllib3HTTPError, OSError)


@contextlib.contextmanager
def _s3_errors(key: str) -> Iterator[None]:
    try:
        yield
    except _BACKEND_ERRORS as exc:
        raise _translate(exc, key) from exc


class _ReaderGone(Exception):
    """The uploader stopped reading (it failed); the writer must stop too."""


class _WriterFailed(Exception):
    """The source stream failed; the uploader must abort, never complete a short object."""


class _Pipe:
    """Bounded hand-over from `pump` (writer, caller's thread) to minio (reader, uploader).

    End of data is explicit: a failed source is passed to the reader as an exception,
    so minio aborts the upload instead of storing a truncated object.
    """

    def __init__(self, depth: int = 4) -> None:
        self._queue: Queue[bytes | BaseException | None] = Queue(maxsize=depth)
        self._head = b""
        self._eof = False
        self.reader_done = threading.Event()

    # -- writer side -----------------------------------------------------------
    def write(self, chunk: memoryview) -> None:
        # pump() reuses its buffers, so the reader gets its own copy.
        if not self._offer(bytes(chunk)):
            raise _ReaderGone

    def finish(self, error: BaseException | None = None) -> None:
        self._offer(error)

    def _offer(self, item: bytes | BaseException | None) -> bool:
        while not self.reader_done.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except Full:
                continue
        return False

    # -- reader side (minio calls read(part_size + 1)) ---------------------------
    def read(self, size: int = -1) -> bytes:
        want = size if size >= 0 else 1 << 62
        pieces: list[bytes] = []
        got = 0
        if self._head:
            pieces.append(self._head)
            got = len(self._head)
            self._head = b""
        while got < want and not self._eof:
            item = self._queue.get()
            if item is None:
                self._eof = True
            elif isinstance(item, BaseException):
                raise _WriterFailed(str(item)) from item
            else:
                pieces.append(item)
                got += len(item)
        if got > want:
            last = pieces[-1]
            keep = len(last) - (got - want)
            pieces[-1], self._head = last[:keep], last[keep:]
        return b"".join(pieces)


class _ResponseReader(io.RawIOBase):
    """A streaming GET as a file object that returns its connection to the pool on close."""

    def __init__(self, response: urllib3.BaseHTTPResponse, key: str) -> None:
        self._response = response
        self._key = key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        with _s3_errors(self._key):
            data = self._response.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._response.close()
            self._response.release_conn()
        super().close()


@dataclass(frozen=True)
class _Upload:
    """A finished temporary upload."""

    key: str
    version_id: str | None
    hasher: MultiHasher
    first_chunk: bytes


class S3ObjectStore(ObjectStore):
    def __init__(
        self,
        client: Minio,
        bucket: str,
        *,
        digests: tuple[str, ...] = ("sha256",),
        chunk_size: int = 4 * 1024 * 1024,
        part_size: int = 64 * 1024 * 1024,
        retention_days: int = 3650,
        retention_mode: Literal["GOVERNANCE", "COMPLIANCE"] = "COMPLIANCE",
        upload_threads: int = 3,
    ) -> None:
        if part_size < 5 * 1024 * 1024:
            raise ValueError("S3 part size must be at least 5 MiB")
        self.client = client
        self.bucket = bucket
        self.digests = digests
        self.chunk_size = chunk_size
        self.part_size = part_size
        self.retention = timedelta(days=retention_days)
        self.retention_mode = GOVERNANCE if retention_mode == "GOVERNANCE" else COMPLIANCE
        self.upload_threads = upload_threads
        self._object_lock: bool | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ObjectStore:
        client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key or None,
            secret_key=settings.s3_secret_key or None,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
        return cls(
            client,
            settings.s3_bucket,
            digests=tuple(settings.digests),
            chunk_size=settings.read_chunk_bytes,
            part_size=settings.s3_part_size,
            retention_days=settings.retention_days,
            retention_mode=settings.retention_mode,
        )

    # -- bucket ------------------------------------------------------------------
    def ensure_bucket(self, object_lock: bool = True) -> bool:
        """Create the bucket if absent (with object lock if asked); True if it has lock.

        Object lock can only be switched on at creation on MinIO, so an existing bucket
        without it is refused rather than silently used unprotected.
        """
        with _s3_errors(self.bucket):
            if not self.client.bucket_exists(self.bucket):
                with contextlib.suppress(S3Error):  # lost a creation race: fine
                    self.client.make_bucket(self.bucket, object_lock=object_lock)
        self._object_lock = None
        if object_lock and not self.object_lock:
            raise StorageError(
                f"bucket {self.bucket!r} exists without object lock; "
                "create a new bucket with object lock enabled"
            )
        return self.object_lock

    @property
    def object_lock(self) -> bool:
        """Whether the bucket has object lock (asked once, then remembered)."""
        if self._object_lock is None:
            try:
                self.client.get_object_lock_config(self.bucket)
                self._object_lock = True
            except S3Error as exc:
                if exc.code != "ObjectLockConfigurationNotFoundError":
                    raise _translate(exc, self.bucket) from exc
                self._object_lock = False
            except _BACKEND_ERRORS as exc:
                raise _translate(exc, self.bucket) from exc
        return self._object_lock

    # -- writing -----------------------------------------------------------------
    @staticmethod
    def _check_key(key: str) -> None:
        if (
            not key
            or key.startswith("/")
            or ".." in key.split("/")
            or key.startswith(INCOMING)
            or key.endswith("/")
        ):
            raise ValueError(f"invalid object key {key!r}")

    def _upload_temp(
        self, stream: BinaryIO, content_type: str, on_chunk: ChunkCallback | None
    ) -> _Upload:
        """Stream to a fresh `incoming/` key, hashing the same bytes on the way."""
        temp = f"{INCOMING}{uuid.uuid4().hex}"
        hasher = MultiHasher(self.digests)
        pipe = _Pipe()
        outcome: list[object] = []

        def upload() -> None:
            try:
                outcome.append(
                    self.client.put_object(
                        self.bucket,
                        temp,
                        cast(BinaryIO, pipe),
                        length=-1,
                        content_type=content_type,
                        part_size=self.part_size,
                        num_parallel_uploads=self.upload_threads,
                    )
                )
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                outcome.append(exc)
            finally:
                pipe.reader_done.set()

        uploader = threading.Thread(target=upload, name="custos-s3-upload", daemon=True)
        uploader.start()
        try:
            first = pump(stream, pipe.write, hasher, self.chunk_size, on_chunk)
        except _ReaderGone:
            first = b""  # the upload failed; its error is raised below
        except BaseException as exc:
            pipe.finish(exc)  # the uploader aborts its multipart upload
            uploader.join()
            raise
        pipe.finish()
        uploader.join()
        result = outcome[0] if outcome else RuntimeError("upload thread ended silently")
        if isinstance(result, BaseException):
            if isinstance(result, _BACKEND_ERRORS):
                raise _translate(result, temp) from result
            raise result
        version = getattr(result, "version_id", None)
        return _Upload(temp, version, hasher, first)

    def _discard(self, upload: _Upload) -> None:
        # Best effort: a failure here must not hide the outcome of the write itself;
        # clean_orphans() removes whatever is left.
        with contextlib.suppress(*_BACKEND_ERRORS):
            self.client.remove_object(self.bucket, upload.key, version_id=upload.version_id)

    def _protection_headers(self, content_type: str, worm: bool) -> dict[str, str]:
        headers = {"Content-Type": content_type}
        if not worm:
            return headers
        until = datetime.now(UTC) + self.retention
        headers[f"x-amz-meta-{_META_WORM}"] = "1"
        if self.object_lock:
            headers["x-amz-object-lock-mode"] = self.retention_mode
            headers["x-amz-object-lock-retain-until-date"] = _iso(until)
        else:
            headers[f"x-amz-meta-{_META_RETAIN}"] = _iso(until)
        return headers

    def _place(self, upload: _Upload, key: str, content_type: str, worm: bool) -> bool:
        """Server-side copy `upload` to `key` unless `key` exists; True if this call made it.

        minio's public copy calls cannot send `If-None-Match`, so the copy is built from
        the client's own request primitives (one place, covered by the contract tests).
        """
        size = upload.hasher.size
        headers = self._protection_headers(content_type, worm)
        with _s3_errors(key):
            actual = self.client.stat_object(self.bucket, upload.key, version_id=upload.version_id)
            if actual.size != size:
                raise StorageError(f"{upload.key}: stored {actual.size} bytes, read {size}")
            try:
                if size == 0:
                    # A zero-byte part copy is not portable; a conditional empty PUT is.
                    self.client._put_object(self.bucket, key, b"", {**headers, "If-None-Match": "*"})
                else:
                    self._conditional_copy(upload, key, size, headers)
            except S3Error as exc:
                if exc.code == "PreconditionFailed":
                    return False
                raise
        if worm and self.object_lock:
            self._ensure_retention(key, headers["x-amz-object-lock-retain-until-date"])
        return True

    def _conditional_copy(
        self, upload: _Upload, key: str, size: int, headers: dict[str, str]
    ) -> None:
        client = self.client
        upload_id = client._create_multipart_upload(self.bucket, key, dict(headers))
        try:
            parts = ET.Element("CompleteMultipartUpload")
            part_size = MAX_COPY_PART
            for number, offset in enumerate(range(0, size, part_size), start=1):
                source = CopySource(
                    self.bucket,
                    upload.key,
                    version_id=upload.version_id,
                )
                copy_headers = source.gen_copy_headers()
                if size > part_size:
                    last = min(offset + part_size, size) - 1
                    copy_headers["x-amz-copy-source-range"] = f"bytes={offset}-{last}"
                etag, _ = client._upload_part_copy(
                    self.bucket, key, upload_id, number, copy_headers
                )
                part = ET.SubElement(parts, "Part")
                ET.SubElement(part, "PartNumber").text = str(number)
                ET.SubElement(part, "ETag").text = f'"{etag}"'
            body = ET.tostring(parts)
            response = client._execute(
                "POST",
                self.bucket,
                key,
                body=body,
                headers={
                    "Content-Type": "application/xml",
                    "Content-MD5": str(md5sum_hash(body)),
                    "If-None-Match": "*",
                },
                query_params={"uploadId": upload_id},
            )
            # S3 may report a failed completion inside a 200 response.
            if response.data and ET.fromstring(response.data).tag.endswith("Error"):
                raise StorageError(f"{key}: completion failed: {response.data[:200]!r}")
        except BaseException:
            with contextlib.suppress(*_BACKEND_ERRORS):
                client._abort_multipart_upload(self.bucket, key, upload_id)
            raise

    def _ensure_retention(self, key: str, until: str) -> None:
        # Retention sent with CreateMultipartUpload is honoured by S3 and MinIO but not
        # by every S3 implementation (moto drops it), so check and set it explicitly.
        from minio.retention import Retention

        info = self._stat_object(key)
        if info is not None and _header(info, "x-amz-object-lock-retain-until-date"):
            return
        with _s3_errors(key):
            self.client.set_object_retention(
                self.bucket,
                key,
                Retention(self.retention_mode, datetime.fromisoformat(until)),
                version_id=info.version_id if info else None,
            )

    # -- interface ---------------------------------------------------------------------
    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        worm: bool = False,
        content_type: str = "application/octet-stream",
        on_chunk: ChunkCallback | None = None,
    ) -> PutResult:
        self._check_key(key)
        if self._stat_object(key) is not None:
            raise ObjectExists(key)
        upload = self._upload_temp(stream, content_type, on_chunk)
        try:
            created = self._place(upload, key, content_type, worm)
        finally:
            self._discard(upload)
        if not created:
            raise ObjectExists(key)
        hasher = upload.hasher
        return PutResult(key, hasher.size, hasher.hexdigests(), True, upload.first_chunk)

    def put_content_addressed(
        self, stream: BinaryIO, *, on_chunk: ChunkCallback | None = None
    ) -> PutResult:
        upload = self._upload_temp(stream, "application/octet-stream", on_chunk)
        digests = upload.hasher.hexdigests()
        key = original_key(digests["sha256"])
        try:
            created = self._stat_object(key) is None and self._place(
                upload, key, "application/octet-stream", worm=True
            )
        finally:
            self._discard(upload)
        return PutResult(key, upload.hasher.size, digests, created, upload.first_chunk)

    def open(self, key: str, start: int = 0, end: int | None = None) -> BinaryIO:
        self._check_key(key)
        if end is not None and end <= start:
            if not self.exists(key):
                raise ObjectNotFound(key)
            return io.BytesIO(b"")
        length = 0 if end is None else end - start
        try:
            response = self.client.get_object(self.bucket, key, offset=start, length=length)
        except S3Error as exc:
            if exc.code == "InvalidRange":  # start at or past the end: nothing to read
                return io.BytesIO(b"")
            raise _translate(exc, key) from exc
        except _BACKEND_ERRORS as exc:
            raise _translate(exc, key) from exc
        return io.BufferedReader(_ResponseReader(response, key), self.chunk_size)

    def _stat_object(self, key: str) -> Object | None:
        try:
            return self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _NOT_FOUND_CODES:
                return None
            raise _translate(exc, key) from exc
        except _BACKEND_ERRORS as exc:
            raise _translate(exc, key) from exc

    def stat(self, key: str) -> ObjectStat | None:
        self._check_key(key)
        info = self._stat_object(key)
        if info is None:
            return None
        retain = _header(info, "x-amz-object-lock-retain-until-date") or _header(
            info, f"x-amz-meta-{_META_RETAIN}"
        )
        if self.object_lock:
            hold = (_header(info, "x-amz-object-lock-legal-hold") or "").upper() == "ON"
        else:
            hold = self._tag_hold(key)
        metadata = {
            name[len("x-amz-meta-") :]: value
            for name, value in (info.metadata or {}).items()
            if name.lower().startswith("x-amz-meta-")
        }
        return ObjectStat(
            key=key,
            size=info.size or 0,
            modified=info.last_modified,
            worm=_header(info, f"x-amz-meta-{_META_WORM}") == "1"
            or bool(_header(info, "x-amz-object-lock-mode")),
            retain_until=datetime.fromisoformat(retain) if retain else None,
            legal_hold=hold,
            metadata=metadata,
        )

    def list(self, prefix: str = "") -> Iterator[str]:
        with _s3_errors(prefix or self.bucket):
            keys = [
                obj.object_name
                for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
                if obj.object_name and not obj.object_name.startswith(INCOMING)
            ]
        yield from sorted(keys)

    # -- protection ----------------------------------------------------------------------
    def _tag_hold(self, key: str) -> bool:
        with _s3_errors(key):
            tags = self.client.get_object_tags(self.bucket, key)
        return bool(tags) and tags.get(_HOLD_TAG) == "ON"

    def set_legal_hold(self, key: str, on: bool) -> None:
        self._check_key(key)
        info = self._stat_object(key)
        if info is None:
            raise ObjectNotFound(key)
        with _s3_errors(key):
            if self.object_lock:
                if on:
                    self.client.enable_object_legal_hold(self.bucket, key, info.version_id)
                else:
                    self.client.disable_object_legal_hold(self.bucket, key, info.version_id)
            elif on:
                tags = Tags.new_object_tags()
                tags[_HOLD_TAG] = "ON"
                self.client.set_object_tags(self.bucket, key, tags)
            else:
                self.client.delete_object_tags(self.bucket, key)

    def delete(self, key: str) -> None:
        info = self.stat(key)
        if info is None:
            raise ObjectNotFound(key)
        if info.legal_hold:
            raise ObjectLocked(f"{key} is under legal hold")
        if info.retain_until and info.retain_until > datetime.now(UTC):
            raise ObjectLocked(f"{key} is retained until {info.retain_until.isoformat()}")
        version = self._stat_object(key)
        with _s3_errors(key):
            # Deleting the version itself: without it a versioned bucket only adds a
            # delete marker and keeps the bytes.
            self.client.remove_object(
                self.bucket, key, version_id=version.version_id if version else None
            )

    def clean_orphans(self, older_than_s: float = 3600.0) -> int:
        """Remove temporary uploads left by a crashed writer; returns how many."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        removed = 0
        with _s3_errors(INCOMING):
            for obj in self.client.list_objects(
                self.bucket, prefix=INCOMING, recursive=True, include_version=True
            ):
                if obj.object_name and (obj.last_modified is None or obj.last_modified <= cutoff):
                    self.client.remove_object(self.bucket, obj.object_name, obj.version_id)
                    removed += 1
        return removed


def _header(info: Object, name: str) -> str | None:
    headers = info.metadata
    if headers is None:
        return None
    value = headers.get(name)
    return str(value) if value is not None else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _unused() -> None:  # pragma: no cover
    del time, Empty
