"""Object storage: one interface, a local-folder and an S3/MinIO backend."""

from __future__ import annotations

from storage.config import Settings
from storage.objects.base import ObjectStat, ObjectStore, PutResult
from storage.objects.hashing import MultiHasher, original_key

__all__ = ["MultiHasher", "ObjectStat", "ObjectStore", "PutResult", "open_store", "original_key"]


def open_store(settings: Settings) -> ObjectStore:
    digests = tuple(settings.digests)
    if settings.object_store == "s3":
        from storage.objects.s3 import S3ObjectStore

        store = S3ObjectStore.from_settings(settings)
        store.ensure_bucket(object_lock=settings.s3_object_lock)
        return store
    from storage.objects.local import LocalObjectStore

    return LocalObjectStore(
        settings.resolved_objects_dir,
        digests=digests,
        chunk_size=settings.read_chunk_bytes,
        retention_days=settings.retention_days,
    )
