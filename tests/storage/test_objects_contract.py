"""One contract for every object-store backend.

Each test runs against the local folder store and against the S3 store on moto's
threaded server (real HTTP, real minio client), once on a bucket with object lock
and once on a plain bucket, where Custos must enforce protection itself.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import resource
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import urllib3
from minio import Minio
from minio.error import S3Error

from storage.config import Settings
from storage.errors import (
    ObjectExists,
    ObjectLocked,
    ObjectNotFound,
    StorageError,
    StoredObjectMismatch,
    TransientStorageError,
)
from storage.objects import open_store
from storage.objects.base import ObjectStore
from storage.objects.hashing import original_key
from storage.objects.local import LocalObjectStore
from storage.objects.s3 import INCOMING, S3ObjectStore
from tests.storage.s3_server import MIN_PART, make_s3_store, moto_s3_server

DIGESTS = ("sha256", "sm3")
RETENTION_DAYS = 1


@dataclass
class Backend:
    name: str
    store: ObjectStore
    leftovers: Callable[[], list[str]]  # temporary data a writer left behind


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3_server() as endpoint:
        yield endpoint


def _s3_leftovers(endpoint: str, store: S3ObjectStore) -> Callable[[], list[str]]:
    # An independent client (boto3), so the check does not trust the code under test.
    raw: Any = boto3.client(
        "s3",
        endpoint_url=f"http://{endpoint}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )

    def leftovers() -> list[str]:
        found = [
            f"object:{v['Key']}"
            for v in raw.list_object_versions(Bucket=store.bucket).get("Versions", [])
            if v["Key"].startswith(INCOMING)
        ]
        uploads = raw.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
        return found + [f"upload:{u['Key']}" for u in uploads]

    return leftovers


@pytest.fixture(params=["local", "s3-lock", "s3-plain"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        local = LocalObjectStore(
            tmp_path / "objects",
            digests=DIGESTS,
            chunk_size=1024 * 1024,
            retention_days=RETENTION_DAYS,
        )
        temp_dir = local.root / "tmp"
        return Backend("local", local, lambda: sorted(p.name for p in temp_dir.iterdir()))
    endpoint: str = request.getfixturevalue("s3_endpoint")
    s3 = make_s3_store(
        endpoint,
        object_lock=request.param == "s3-lock",
        digests=DIGESTS,
        retention_days=RETENTION_DAYS,
    )
    assert s3.object_lock is (request.param == "s3-lock")
    return Backend(request.param, s3, _s3_leftovers(endpoint, s3))


def expected_digests(data: bytes) -> dict[str, str]:
    return {name: hashlib.new(name, data).hexdigest() for name in DIGESTS}


def payload(size: int, seed: int = 0) -> bytes:
    # Distinct bytes per test, so content-addressed keys never collide across tests.
    return hashlib.sha256(f"{seed}".encode()).digest() + os.urandom(max(0, size - 32))


class FailingStream(io.RawIOBase):
    """Yields `data`, then fails like a recorder pulled out mid-copy."""

    def __init__(self, data: bytes, fail_after: int) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._fail_after = fail_after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._fail_after:
            raise OSError("device disconnected")
        n = min(len(buffer), self._fail_after - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


class SideEffectStream(io.RawIOBase):
    """Runs `action` once, after the first read: another writer acting mid-upload."""

    def __init__(self, data: bytes, action: Callable[[], object]) -> None:
        self._inner = io.BytesIO(data)
        self._action: Callable[[], object] | None = action

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._inner.readinto(buffer)
        if self._action is not None:
            action, self._action = self._action, None
            action()
        return n


# -- writing and reading -----------------------------------------------------------------
def test_put_round_trip_digests_match_hashlib(backend: Backend) -> None:
    store = backend.store
    data = payload(300_000, 1)
    seen = bytearray()
    result = store.put("derived/aa/out.bin", io.BytesIO(data), on_chunk=seen.extend)
    assert result.created
    assert result.key == "derived/aa/out.bin"
    assert result.size == len(data)
    assert result.digests == expected_digests(data)
    assert result.first_chunk == data[:65536]
    assert bytes(seen) == data
    assert store.get_bytes("derived/aa/out.bin") == data
    with store.local_path("derived/aa/out.bin") as path:
        assert path.read_bytes() == data


def test_content_addressed_key_and_dedup(backend: Backend) -> None:
    store = backend.store
    data = payload(200_000, 2)
    first = store.put_content_addressed(io.BytesIO(data))
    assert first.created
    assert first.key == original_key(hashlib.sha256(data).hexdigest())
    assert first.digests == expected_digests(data)
    again = store.put_content_addressed(io.BytesIO(data))
    assert not again.created
    assert again.key == first.key
    assert again.digests == first.digests
    assert list(store.list("originals/")) == [first.key]
    assert store.get_bytes(first.key) == data
    assert backend.leftovers() == []


def test_empty_object(backend: Backend) -> None:
    result = backend.store.put_content_addressed(io.BytesIO(b""))
    assert result.created
    assert result.size == 0
    assert result.digests == expected_digests(b"")
    assert backend.store.get_bytes(result.key) == b""
    info = backend.store.stat(result.key)
    assert info is not None and info.size == 0 and info.worm


RANGE_SIZE = 4096


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 10),
        (5, None),
        (1000, 2000),
        (RANGE_SIZE - 3, None),
        (0, RANGE_SIZE - 1),
        (RANGE_SIZE, None),  # starts exactly at the end: nothing
        (10, 10),  # empty range
        (RANGE_SIZE - 5, RANGE_SIZE + 100),  # runs past the end
    ],
)
def test_ranged_reads(backend: Backend, start: int, end: int | None) -> None:
    data = payload(RANGE_SIZE, 3)
    backend.store.put("ranges/blob", io.BytesIO(data))
    with backend.store.open("ranges/blob", start, end) as handle:
        assert handle.read() == data[start:end]


def test_stat_exists_and_missing_keys(backend: Backend) -> None:
    store = backend.store
    before = datetime.now(UTC) - timedelta(minutes=1)
    store.put("meta/one", io.BytesIO(b"12345"))
    info = store.stat("meta/one")
    assert info is not None
    assert info.key == "meta/one" and info.size == 5
    assert info.modified is not None and info.modified >= before
    assert not info.worm and not info.legal_hold and info.retain_until is None
    assert store.exists("meta/one")
    assert store.stat("meta/none") is None
    assert not store.exists("meta/none")
    with pytest.raises(ObjectNotFound):
        store.open("meta/none")
    with pytest.raises(ObjectNotFound):
        store.set_legal_hold("meta/none", True)
    with pytest.raises(ObjectNotFound):
        store.delete("meta/none")


def test_list_is_sorted_and_filtered_by_prefix(backend: Backend) -> None:
    store = backend.store
    for key in ["b/2", "a/1", "b/10", "c", "b/1/x"]:
        store.put(key, io.BytesIO(key.encode()))
    assert list(store.list()) == ["a/1", "b/1/x", "b/10", "b/2", "c"]
    assert list(store.list("b/")) == ["b/1/x", "b/10", "b/2"]
    assert list(store.list("zzz/")) == []


@pytest.mark.parametrize("key", ["", "/abs", "a/../b"])
def test_invalid_keys_refused(backend: Backend, key: str) -> None:
    with pytest.raises(ValueError):
        backend.store.put(key, io.BytesIO(b"x"))


def test_multipart_upload_of_a_large_file(backend: Backend) -> None:
    store = backend.store
    data = payload(2 * MIN_PART + 123_457, 4)  # three parts at the 5 MiB test part size
    result = store.put_content_addressed(io.BytesIO(data))
    assert result.created and result.size == len(data)
    assert result.digests == expected_digests(data)
    assert store.get_bytes(result.key) == data
    boundary = MIN_PART
    with store.open(result.key, boundary - 10, boundary + 10) as handle:
        assert handle.read() == data[boundary - 10 : boundary + 10]
    # The same through put(), at a known key and with retention.
    again = store.put("derived/big.bin", io.BytesIO(data), worm=True)
    assert again.digests == result.digests
    info = store.stat("derived/big.bin")
    assert info is not None and info.size == len(data) and info.retain_until is not None
    assert store.get_bytes("derived/big.bin") == data
    assert backend.leftovers() == []


# -- write once -------------------------------------------------------------------------
def test_overwrite_is_refused(backend: Backend) -> None:
    store = backend.store
    store.put("once/key", io.BytesIO(b"first"))
    with pytest.raises(ObjectExists):
        store.put("once/key", io.BytesIO(b"second"))
    assert store.get_bytes("once/key") == b"first"
    assert backend.leftovers() == []


def test_writer_that_loses_a_race_does_not_overwrite(backend: Backend) -> None:
    """The key is free when the write starts and taken before it finishes."""
    store = backend.store

    def rival() -> None:
        store.put("race/key", io.BytesIO(b"rival"))

    with pytest.raises(ObjectExists):
        store.put("race/key", SideEffectStream(payload(50_000, 5), rival))  # type: ignore[arg-type]
    assert store.get_bytes("race/key") == b"rival"
    assert backend.leftovers() == []


def test_content_addressed_race_reports_duplicate(backend: Backend) -> None:
    store = backend.store
    data = payload(60_000, 6)

    def rival() -> None:
        assert store.put_content_addressed(io.BytesIO(data)).created

    result = store.put_content_addressed(SideEffectStream(data, rival))  # type: ignore[arg-type]
    assert not result.created
    assert result.key == original_key(hashlib.sha256(data).hexdigest())
    assert store.get_bytes(result.key) == data
    assert backend.leftovers() == []


@pytest.mark.parametrize("fail_after", [100_000, MIN_PART + 2_000_000])
def test_interrupted_write_leaves_nothing_visible(backend: Backend, fail_after: int) -> None:
    """A source failing mid-way (small, and after a multipart upload has begun)."""
    store = backend.store
    data = payload(fail_after + 1_000_000, 7)
    with pytest.raises(OSError, match="device disconnected"):
        store.put_content_addressed(FailingStream(data, fail_after))  # type: ignore[arg-type]
    with pytest.raises(OSError, match="device disconnected"):
        store.put("derived/partial", FailingStream(data, fail_after))  # type: ignore[arg-type]
    assert list(store.list()) == []
    assert not store.exists("derived/partial")
    assert backend.leftovers() == []
    assert [t.name for t in threading.enumerate() if t.name.startswith("custos-")] == []


# -- protection -------------------------------------------------------------------------
def test_originals_are_worm_with_retention(backend: Backend) -> None:
    store = backend.store
    result = store.put_content_addressed(io.BytesIO(payload(10_000, 8)))
    info = store.stat(result.key)
    assert info is not None and info.worm
    assert info.retain_until is not None
    expected = datetime.now(UTC) + timedelta(days=RETENTION_DAYS)
    assert abs(info.retain_until - expected) < timedelta(minutes=5)
    with pytest.raises(ObjectLocked):
        store.delete(result.key)
    assert store.exists(result.key)


def test_worm_put_at_a_known_key_is_retained(backend: Backend) -> None:
    store = backend.store
    store.put("sealed/report.json", io.BytesIO(b"{}"), worm=True, content_type="application/json")
    info = store.stat("sealed/report.json")
    assert info is not None and info.worm and info.retain_until is not None
    with pytest.raises(ObjectLocked):
        store.delete("sealed/report.json")


def test_legal_hold_blocks_delete_until_lifted(backend: Backend) -> None:
    store = backend.store
    store.put("held/clip", io.BytesIO(b"clip"))
    store.set_legal_hold("held/clip", True)
    info = store.stat("held/clip")
    assert info is not None and info.legal_hold
    with pytest.raises(ObjectLocked):
        store.delete("held/clip")
    assert store.get_bytes("held/clip") == b"clip"
    store.set_legal_hold("held/clip", False)
    info = store.stat("held/clip")
    assert info is not None and not info.legal_hold
    store.delete("held/clip")
    assert not store.exists("held/clip")
    assert list(store.list("held/")) == []


# -- what is stored is what was read (issue 10, items 4 and 5) ------------------------------
def _damage(backend: Backend, key: str, data: bytes) -> bytes:
    """Rot the stored object behind the store's back; returns the damaged bytes."""
    bad = data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:]
    store = backend.store
    if isinstance(store, LocalObjectStore):
        path = store.root / key
        path.chmod(0o644)
        path.write_bytes(bad)
    else:
        assert isinstance(store, S3ObjectStore)
        store.client.put_object(store.bucket, key, io.BytesIO(bad), len(bad))
    return bad


def test_repair_replaces_a_damaged_original_and_keeps_its_protection(backend: Backend) -> None:
    store = backend.store
    data = payload(300_000, 40)
    sha = hashlib.sha256(data).hexdigest()
    key = store.put_content_addressed(io.BytesIO(data)).key
    bad = _damage(backend, key, data)
    store.set_legal_hold(key, True)
    # Bytes that are not the recorded ones never replace anything.
    with pytest.raises(StoredObjectMismatch):
        store.repair(key, io.BytesIO(data[:-1] + b"x"), sha256=sha, size=len(data))
    with pytest.raises(StoredObjectMismatch):
        store.repair(key, io.BytesIO(data[:-1]), sha256=sha, size=len(data))
    assert store.get_bytes(key) == bad
    fixed = store.repair(key, io.BytesIO(data), sha256=sha, size=len(data))
    assert fixed.key == key and fixed.digests == expected_digests(data)
    assert store.get_bytes(key) == data
    info = store.stat(key)
    assert info is not None and info.worm and info.retain_until is not None and info.legal_hold
    with pytest.raises(ObjectLocked):
        store.delete(key)
    assert backend.leftovers() == []


def test_repair_restores_a_missing_object(backend: Backend) -> None:
    store = backend.store
    data = payload(50_000, 41)
    key = original_key(hashlib.sha256(data).hexdigest())
    store.repair(key, io.BytesIO(data), sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    assert store.get_bytes(key) == data
    info = store.stat(key)
    assert info is not None and info.worm and info.retain_until is not None


def test_local_short_write_is_never_published(tmp_path: Path) -> None:
    """The disk takes only part of a write (here a file-size limit): the write fails, and
    nothing appears under the key of the bytes that were read."""
    store = LocalObjectStore(tmp_path / "objects", chunk_size=1024 * 1024)
    data = payload(300_000, 42)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, hard))
    try:
        with pytest.raises(StorageError, match="File too large"):
            store.put_content_addressed(io.BytesIO(data))
        with pytest.raises(StorageError, match="File too large"):
            store.put("derived/cut", io.BytesIO(data))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert list(store.list()) == []
    assert list((store.root / "tmp").iterdir()) == []
    assert store.put_content_addressed(io.BytesIO(data)).created  # and then it works


@pytest.mark.parametrize("size", [200_000, MIN_PART + 1_000_000])
def test_s3_upload_damaged_on_the_way_is_never_published(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """Bytes changed between Custos and the server (moto checks no checksum, as a server
    may not): the read-back of the upload finds it before anything is under `originals/`."""
    store = make_s3_store(s3_endpoint, object_lock=True)
    real_put = store.client._put_object

    def damaging(
        bucket: str, key: str, data: bytes, headers: Any = None, query_params: Any = None
    ) -> Any:
        if key.startswith(INCOMING) and len(data) > 100:
            data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
        return real_put(bucket, key, data, headers, query_params)

    monkeypatch.setattr(store.client, "_put_object", damaging)
    data = payload(size, 43)
    with pytest.raises(StoredObjectMismatch, match="sha256"):
        store.put_content_addressed(io.BytesIO(data))
    assert not store.exists(original_key(hashlib.sha256(data).hexdigest()))
    assert list(store.list()) == []
    monkeypatch.undo()
    assert store.put_content_addressed(io.BytesIO(data)).created


def test_s3_every_upload_carries_its_sha256(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So that a server that checks (S3, MinIO) refuses bytes damaged on the way."""
    store = make_s3_store(s3_endpoint, object_lock=True)
    real = store.client._execute
    sent: list[tuple[str, bytes, dict[str, Any]]] = []

    def spy(method: str, *args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("body") if "body" in kwargs else (args[2] if len(args) > 2 else None)
        query = kwargs.get("query_params") or {}
        settings_call = {"retention", "legal-hold", "tagging"} & set(query)
        if method == "PUT" and body and not settings_call:
            sent.append((method, bytes(body), dict(kwargs.get("headers") or {})))
        if method == "POST" and body and b"CompleteMultipartUpload" in bytes(body):
            sent.append(("COMPLETE", bytes(body), {}))
        return real(method, *args, **kwargs)

    monkeypatch.setattr(store.client, "_execute", spy)
    store.put_content_addressed(io.BytesIO(payload(MIN_PART + 1_000_000, 44)))  # two parts
    store.put("derived/aa/small.bin", io.BytesIO(payload(1000, 45)))
    uploads = [(body, headers) for method, body, headers in sent if method == "PUT"]
    assert len(uploads) == 3
    for body, headers in uploads:
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        assert headers["x-amz-checksum-sha256"] == digest
    completes = [body for method, body, _ in sent if method == "COMPLETE"]
    assert completes and b"<ChecksumSHA256>" in completes[0]


# -- S3 only ------------------------------------------------------------------------------
def test_s3_server_itself_refuses_deleting_a_retained_original(s3_endpoint: str) -> None:
    """With object lock the server, not only Custos, protects the stored version."""
    store = make_s3_store(s3_endpoint, object_lock=True)
    result = store.put_content_addressed(io.BytesIO(payload(1000, 9)))
    version = store.client.stat_object(store.bucket, result.key).version_id
    with pytest.raises(S3Error) as refused:
        store.client.remove_object(store.bucket, result.key, version_id=version)
    assert refused.value.code == "AccessDenied"
    assert store.get_bytes(result.key)


def test_s3_ensure_bucket_refuses_a_bucket_without_lock(s3_endpoint: str) -> None:
    plain = make_s3_store(s3_endpoint, object_lock=False)
    with pytest.raises(StorageError, match="without object lock"):
        plain.ensure_bucket(object_lock=True)


def test_s3_orphaned_temp_uploads_are_hidden_and_cleaned(s3_endpoint: str) -> None:
    store = make_s3_store(s3_endpoint, object_lock=True)
    store.client.put_object(store.bucket, f"{INCOMING}crashed", io.BytesIO(b"half"), 4)
    assert list(store.list()) == []
    with pytest.raises(ValueError):
        store.stat(f"{INCOMING}crashed")
    assert store.clean_orphans(older_than_s=3600) == 0
    assert store.clean_orphans(older_than_s=0) == 1
    remaining = store.client.list_objects(store.bucket, prefix=INCOMING, include_version=True)
    assert list(remaining) == []


def test_s3_failure_stops_reading_the_source(s3_endpoint: str) -> None:
    """A backend fault surfaces as a storage error at once, not after the whole file."""
    store = make_s3_store(s3_endpoint, object_lock=False)
    store.bucket = "custos-no-such-bucket"
    source = io.BytesIO(payload(6 * MIN_PART, 11))
    with pytest.raises(StorageError, match="NoSuchBucket"):
        store.put("a/b", source)
    assert source.tell() <= MIN_PART + store.chunk_size


def test_s3_unreachable_server_is_transient() -> None:
    client = Minio(
        "127.0.0.1:9",  # discard port: nothing listens
        access_key="x",
        secret_key="y",
        secure=False,
        region="us-east-1",
        http_client=urllib3.PoolManager(retries=urllib3.Retry(total=0), timeout=2),
    )
    store = S3ObjectStore(client, "custos")
    with pytest.raises(TransientStorageError):
        store.stat("originals/x")
    with pytest.raises(TransientStorageError):
        store.put("a/b", io.BytesIO(b"data"))


def test_s3_store_from_settings(s3_endpoint: str, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        object_store="s3",
        s3_endpoint=s3_endpoint,
        s3_access_key="testing",
        s3_secret_key="testing",
        s3_bucket="custos-from-settings",
        s3_region="us-east-1",
        s3_part_size=MIN_PART,
        digests=["sha256", "sm3"],
    )
    store = open_store(settings)
    assert isinstance(store, S3ObjectStore)
    assert store.ensure_bucket(object_lock=True)
    data = payload(1000, 10)
    result = store.put_content_addressed(io.BytesIO(data))
    assert result.digests == expected_digests(data)
    info = store.stat(result.key)
    assert info is not None and info.retain_until is not None
    assert info.retain_until > datetime.now(UTC) + timedelta(days=170)  # default 180 days
