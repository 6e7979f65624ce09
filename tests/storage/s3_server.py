"""A real S3 endpoint for tests: moto's threaded server over HTTP on 127.0.0.1.

Used with the real `minio` client, so requests, signing, multipart and error
translation are exercised end to end. Each store gets its own bucket, so tests
sharing one server never see each other's objects.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator

from minio import Minio
from moto.server import ThreadedMotoServer

from storage.objects.s3 import S3ObjectStore

MIN_PART = 5 * 1024 * 1024


@contextlib.contextmanager
def moto_s3_server() -> Iterator[str]:
    """Start moto on a free port; yields the `host:port` endpoint."""
    # werkzeug logs every request at INFO; keep test output readable.
    access_log = logging.getLogger("werkzeug")
    level = access_log.level
    access_log.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"{host}:{port}"
    finally:
        server.stop()
        access_log.setLevel(level)


def make_s3_store(
    endpoint: str,
    *,
    object_lock: bool = True,
    digests: tuple[str, ...] = ("sha256",),
    part_size: int = MIN_PART,
    chunk_size: int = 1024 * 1024,
    retention_days: int = 1,
    copy_part_size: int = MIN_PART,
) -> S3ObjectStore:
    """A store on a fresh bucket (created with object lock unless told otherwise)."""
    client = Minio(
        endpoint, access_key="testing", secret_key="testing", secure=False, region="us-east-1"
    )
    store = S3ObjectStore(
        client,
        f"custos-test-{uuid.uuid4().hex[:16]}",
        digests=digests,
        chunk_size=chunk_size,
        part_size=part_size,
        retention_days=retention_days,
        retention_mode="GOVERNANCE",
        copy_part_size=copy_part_size,  # small, so ranged server-side copies are exercised
    )
    store.ensure_bucket(object_lock=object_lock)
    return store
