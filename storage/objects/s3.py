"""S3 / MinIO object store (the scaled-out backend), through the `minio` client.

Writes are streamed once: `pump` hashes each chunk while this module gathers chunks
into parts and uploads them on a small thread pool (multipart above one part). Every
write completes only with `If-None-Match: *`, so the server refuses to complete it if
the key exists and two writers can never overwrite each other. An interrupted write
is aborted, and an upload that is never completed is no object at all.

Originals, whose key (their SHA-256) is known only after the last byte, go to a
temporary key under `incoming/` first and are then placed by a server-side multipart
copy with the same conditional completion; a crash leaves at most an `incoming/`
object, never a half-written object under `originals/`.

What is stored is checked before it is visible: every request that carries bytes sends
their SHA-256 (`x-amz-checksum-sha256`, per part for multipart), so a server that
checks checksums (S3, MinIO) refuses bytes damaged on the way; and the temporary object
of an original is read back and its size and SHA-256 compared with what was read from
the source before it is copied under `originals/`.

Protection: when the bucket has object lock, WORM objects get a retention period and
legal holds use the S3 legal-hold API, so the server enforces them. Without object
lock Custos records both itself (object metadata, an object tag). `delete` refuses
protected objects in either case, because a plain `DELETE` on a versioned bucket is
accepted by the server: it hides the object behind a delete marker.

minio's public upload and copy calls cannot send `If-None-Match`, and its
`put_object` leaves its worker threads waiting forever when the source fails mid-way,
so the requests are built from the client's own request primitives (`_execute` and
the multipart helpers), all in this module and covered by the contract tests.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import uuid
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, BinaryIO, Literal
from xml.etree import ElementTree as ET

import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE, GOVERNANCE, CopySource, Tags
from minio.datatypes import Object
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.helpers import DictType, md5sum_hash
from minio.retention import Retention
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from storage.errors import (
    ObjectExists,
    ObjectLocked,
    ObjectNotFound,
    StorageError,
    TransientStorageError,
)
from storage.objects.base import (
    ChunkCallback,
    ObjectStat,
    ObjectStore,
    PutResult,
    check_written,
    pump,
)
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
        "NoSuchUpload",  # our own upload expired or was aborted underneath us: redo it
    }
)
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchVersion"})


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


def _checksum(data: bytes) -> str:
    """The value of `x-amz-checksum-sha256`: base64 of the binary SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def _checksum_headers(data: bytes) -> DictType:
    # x-amz-sdk-checksum-algorithm names the algorithm as the AWS SDKs do; servers that
    # verify checksums refuse the request (BadDigest) if the bytes do not match.
    return {"x-amz-sdk-checksum-algorithm": "SHA256", "x-amz-checksum-sha256": _checksum(data)}


def _complete(
    client: Minio,
    bucket: str,
    key: str,
    upload_id: str,
    etags: list[str],
    checksums: list[str] | None = None,
    *,
    conditional: bool = True,
) -> str | None:
    """CompleteMultipartUpload, only if `key` does not exist yet; returns the version id."""
    parts = ET.Element("CompleteMultipartUpload")
    for number, etag in enumerate(etags, start=1):
        part = ET.SubElement(parts, "Part")
        ET.SubElement(part, "PartNumber").text = str(number)
        ET.SubElement(part, "ETag").text = f'"{etag}"'
        if checksums is not None:
            ET.SubElement(part, "ChecksumSHA256").text = checksums[number - 1]
    body = ET.tostring(parts)
    headers: DictType = {"Content-Type": "application/xml", "Content-MD5": str(md5sum_hash(body))}
    if conditional:
        headers["If-None-Match"] = "*"
    response = client._execute(
        "POST",
        bucket,
        key,
        body=body,
        headers=headers,
        query_params={"uploadId": upload_id},
    )
    # S3 may report a failed completion inside a 200 response.
    if response.data and ET.fromstring(response.data).tag.endswith("Error"):
        raise StorageError(f"{key}: completion failed: {response.data[:300]!r}")
    return _version(response.headers.get("x-amz-version-id"))


def _version(value: str | None) -> str | None:
    # "null" names an unversioned object; servers differ on accepting it back.
    return None if value in (None, "", "null") else value


# minio's own client waits 5 minutes to connect and 5 minutes for each answer, and tries
# six times: a server that vanished without a reset (a host powered off, a partition)
# held an ingest for half an hour per request (tests/reliability/test_faults_s3.py).
# An answer to a part upload or a read comes in seconds; two minutes leaves room for a
# slow CompleteMultipartUpload, and urllib3 still retries, with backoff, what times out.
HTTP_TIMEOUT = urllib3.Timeout(connect=10.0, read=120.0)


def http_client(timeout: urllib3.Timeout | None = None) -> urllib3.PoolManager:
    """minio's default HTTP client (pool, certificates, retries) with bounded waits."""
    import os

    import certifi

    return urllib3.PoolManager(
        timeout=timeout or HTTP_TIMEOUT,
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


class _PartUploader:
    """The sink `pump` writes into: gathers chunks into parts and uploads them.

    At most `threads` parts are in flight (bounded memory); a failed part stops the
    writer at its next part instead of after the whole source has been read. On abort
    the pool is drained before the upload is aborted, so no part lands afterwards.
    """

    def __init__(
        self,
        client: Minio,
        bucket: str,
        key: str,
        headers: DictType,
        *,
        part_size: int,
        threads: int,
        content_md5: bool,
        conditional: bool = True,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.headers = headers
        self.part_size = part_size
        self.threads = threads
        self.content_md5 = content_md5  # object lock wants it on uploads with retention
        self.conditional = conditional  # False only for a repair, which replaces the object
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._parts: list[Future[tuple[str, str]]] = []

    def write(self, chunk: memoryview) -> None:
        self._buffer += chunk
        while len(self._buffer) >= self.part_size:
            with memoryview(self._buffer) as view:
                data = bytes(view[: self.part_size])  # one copy, not two
            del self._buffer[: self.part_size]
            with _s3_errors(self.key):
                self._send(data)

    def finish(self) -> str | None:
        """Send what is left and complete; returns the new object's version id."""
        with _s3_errors(self.key):
            if self._upload_id is None:
                data = bytes(self._buffer)
                headers: DictType = {**self.headers, **_checksum_headers(data)}
                if self.conditional:
                    headers["If-None-Match"] = "*"
                if self.content_md5:
                    headers["Content-MD5"] = str(md5sum_hash(data))
                result = self.client._put_object(self.bucket, self.key, data, headers)
                return _version(result.version_id)
            if self._buffer:
                self._send(bytes(self._buffer))
                self._buffer.clear()
            done = [future.result() for future in self._parts]
            version = _complete(
                self.client,
                self.bucket,
                self.key,
                self._upload_id,
                [etag for etag, _ in done],
                [checksum for _, checksum in done],
                conditional=self.conditional,
            )
        self._close_pool()
        return version

    def abort(self) -> None:
        """Stop after a failure: drain in-flight parts, then abort the upload."""
        self._close_pool()
        if self._upload_id is not None:
            # Best effort: an upload left behind is invisible and expires server-side.
            with contextlib.suppress(*_BACKEND_ERRORS):
                self.client._abort_multipart_upload(self.bucket, self.key, self._upload_id)

    def _send(self, data: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self.client._create_multipart_upload(
                self.bucket, self.key, {**self.headers, "x-amz-checksum-algorithm": "SHA256"}
            )
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="custos-s3-part")
        assert self._pool is not None
        in_flight = [future for future in self._parts if not future.done()]
        if len(in_flight) >= self.threads:
            wait(in_flight, return_when=FIRST_COMPLETED)
        for future in self._parts:
            if future.done() and future.exception() is not None:
                future.result()  # raises the part's error
        number = len(self._parts) + 1
        self._parts.append(self._pool.submit(self._upload_part, data, number))

    def _upload_part(self, data: bytes, number: int) -> tuple[str, str]:
        assert self._upload_id is not None
        headers = _checksum_headers(data)
        if self.content_md5:
            headers["Content-MD5"] = str(md5sum_hash(data))
        etag = self.client._upload_part(
            self.bucket, self.key, data, headers, self._upload_id, number
        )
        return etag, str(headers["x-amz-checksum-sha256"])

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


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
class _Written:
    """A finished upload and what was learnt while streaming it."""

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
        copy_part_size: int = MAX_COPY_PART,
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
        self.copy_part_size = copy_part_size
        self._object_lock: bool | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ObjectStore:
        if not settings.s3_endpoint:
            raise ValueError("CUSTOS_S3_ENDPOINT is unset")
        client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key or None,
            secret_key=settings.s3_secret_key or None,
            secure=settings.s3_secure,
            region=settings.s3_region,
            http_client=http_client(),
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
                try:
                    self.client.make_bucket(self.bucket, object_lock=object_lock)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise  # otherwise another process created it first: fine
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

    def _write(
        self,
        key: str,
        stream: BinaryIO,
        headers: DictType,
        on_chunk: ChunkCallback | None,
    ) -> _Written:
        """Stream to `key` (refused if it exists), hashing the same bytes on the way."""
        hasher = MultiHasher(self.digests)
        sink = _PartUploader(
            self.client,
            self.bucket,
            key,
            headers,
            part_size=self.part_size,
            threads=self.upload_threads,
            content_md5="x-amz-object-lock-mode" in headers,
        )
        try:
            first = pump(stream, sink.write, hasher, self.chunk_size, on_chunk)
            version = sink.finish()
        except BaseException:
            sink.abort()
            raise
        return _Written(key, version, hasher, first)

    def _discard(self, written: _Written) -> None:
        # Best effort: a failure here must not hide the outcome of the write itself;
        # clean_orphans() removes whatever is left. The version is named so that a
        # versioned bucket really drops the bytes instead of adding a delete marker.
        with contextlib.suppress(*_BACKEND_ERRORS):
            self.client.remove_object(self.bucket, written.key, version_id=written.version_id)

    def _protection_headers(self, content_type: str, until: datetime | None) -> DictType:
        headers: DictType = {"Content-Type": content_type}
        if until is None:
            return headers
        headers[f"x-amz-meta-{_META_WORM}"] = "1"
        if self.object_lock:
            headers["x-amz-object-lock-mode"] = self.retention_mode
            headers["x-amz-object-lock-retain-until-date"] = _iso(until)
        else:
            headers[f"x-amz-meta-{_META_RETAIN}"] = _iso(until)
        return headers

    def _retain_until(self, worm: bool) -> datetime | None:
        return datetime.now(UTC) + self.retention if worm else None

    def _verify(self, temp: _Written) -> None:
        """Read the uploaded temporary object back: its size and SHA-256 must be those read."""
        check = MultiHasher(("sha256",))
        with _s3_errors(temp.key):
            response = self.client.get_object(self.bucket, temp.key, version_id=temp.version_id)
            try:
                while chunk := response.read(self.chunk_size):
                    check.update(chunk)
            finally:
                response.close()
                response.release_conn()
        check_written(
            f"upload {temp.key}",
            temp.hasher.hexdigests(),
            temp.hasher.size,
            check.hexdigests(),
            check.size,
        )

    def _place(
        self, temp: _Written, key: str, until: datetime | None, *, conditional: bool = True
    ) -> bool:
        """Server-side copy `temp` to `key` unless `key` exists; True if this call made it."""
        size = temp.hasher.size
        headers = self._protection_headers("application/octet-stream", until)
        with _s3_errors(key):
            stored = self.client.stat_object(self.bucket, temp.key, version_id=temp.version_id)
        if stored.size != size:
            raise StorageError(f"{temp.key}: server holds {stored.size} bytes, read {size}")
        try:
            if size == 0:
                # A zero-byte part copy is not portable; a conditional empty PUT is.
                sink = _PartUploader(
                    self.client,
                    self.bucket,
                    key,
                    headers,
                    part_size=self.part_size,
                    threads=1,
                    content_md5=True,
                    conditional=conditional,
                )
                version = sink.finish()
            else:
                version = self._conditional_copy(temp, key, size, headers, conditional)
        except ObjectExists:
            return False
        with _s3_errors(key):
            placed = self.client.stat_object(self.bucket, key, version_id=version)
        if placed.size != size:
            raise StorageError(
                f"{key}: server holds {placed.size} bytes after the copy, read {size}"
            )
        if until is not None and self.object_lock:
            self._ensure_retention(key, version, until)
        return True

    def _conditional_copy(
        self, temp: _Written, key: str, size: int, headers: DictType, conditional: bool = True
    ) -> str | None:
        client = self.client
        with _s3_errors(key):
            upload_id = client._create_multipart_upload(self.bucket, key, dict(headers))
            try:
                etags: list[str] = []
                step = self.copy_part_size
                for offset in range(0, size, step):
                    source = CopySource(self.bucket, temp.key, version_id=temp.version_id)
                    copy_headers: DictType = dict(source.gen_copy_headers())
                    if size > step:
                        last = min(offset + step, size) - 1
                        copy_headers["x-amz-copy-source-range"] = f"bytes={offset}-{last}"
                    etag, _ = client._upload_part_copy(
                        self.bucket, key, upload_id, len(etags) + 1, copy_headers
                    )
                    etags.append(etag)
                return _complete(
                    client, self.bucket, key, upload_id, etags, conditional=conditional
                )
            except BaseException:
                with contextlib.suppress(*_BACKEND_ERRORS):
                    client._abort_multipart_upload(self.bucket, key, upload_id)
                raise

    def _ensure_retention(self, key: str, version: str | None, until: datetime) -> None:
        # Retention sent with CreateMultipartUpload is honoured by S3 and MinIO but not
        # by every S3 implementation (moto drops it), so check and set it explicitly.
        with _s3_errors(key):
            info = self.client.stat_object(self.bucket, key, version_id=version)
            if _header(info, "x-amz-object-lock-retain-until-date"):
                return
            self.client.set_object_retention(
                self.bucket, key, Retention(self.retention_mode, until), version_id=version
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
            raise ObjectExists(key)  # early, before reading the stream
        until = self._retain_until(worm)
        headers = self._protection_headers(content_type, until)
        written = self._write(key, stream, headers, on_chunk)
        if until is not None and self.object_lock:
            self._ensure_retention(key, written.version_id, until)
        hasher = written.hasher
        return PutResult(key, hasher.size, hasher.hexdigests(), True, written.first_chunk)

    def put_content_addressed(
        self, stream: BinaryIO, *, on_chunk: ChunkCallback | None = None
    ) -> PutResult:
        temp_key = f"{INCOMING}{uuid.uuid4().hex}"
        temp = self._write(temp_key, stream, {"Content-Type": "application/octet-stream"}, on_chunk)
        digests = temp.hasher.hexdigests()
        key = original_key(digests["sha256"])
        try:
            created = False
            if self._stat_object(key) is None:
                self._verify(temp)
                created = self._place(temp, key, self._retain_until(True))
        finally:
            self._discard(temp)
        return PutResult(key, temp.hasher.size, digests, created, temp.first_chunk)

    def repair(self, key: str, stream: BinaryIO, *, sha256: str, size: int) -> PutResult:
        self._check_key(key)
        found = self._stat_object(key)
        before = None if found is None else self._describe(key, found)
        temp_key = f"{INCOMING}{uuid.uuid4().hex}"
        temp = self._write(temp_key, stream, {"Content-Type": "application/octet-stream"}, None)
        digests = temp.hasher.hexdigests()
        try:
            check_written(f"repair of {key}", {"sha256": sha256}, size, digests, temp.hasher.size)
            self._verify(temp)
            # A new version on a versioned bucket (object lock keeps the damaged one, as
            # it must); an overwrite on a plain bucket.
            worm = key.startswith("originals/") or before is None or before.worm
            until = self._retain_until(worm)
            self._place(temp, key, until, conditional=False)
        finally:
            self._discard(temp)
        if before is not None and before.legal_hold:
            self.set_legal_hold(key, True)  # holds belong to a version: carry it over
        return PutResult(key, temp.hasher.size, digests, True, temp.first_chunk)

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
        return None if info is None else self._describe(key, info)

    def _describe(self, key: str, info: Object) -> ObjectStat:
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
        return tags is not None and tags.get(_HOLD_TAG) == "ON"

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
        self._check_key(key)
        found = self._stat_object(key)
        if found is None:
            raise ObjectNotFound(key)
        info = self._describe(key, found)
        if info.legal_hold:
            raise ObjectLocked(f"{key} is under legal hold")
        if info.retain_until and info.retain_until > datetime.now(UTC):
            raise ObjectLocked(f"{key} is retained until {info.retain_until.isoformat()}")
        with _s3_errors(key):
            # Delete the version itself: without it a versioned bucket only adds a
            # delete marker and keeps the bytes.
            self.client.remove_object(self.bucket, key, version_id=found.version_id)

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
