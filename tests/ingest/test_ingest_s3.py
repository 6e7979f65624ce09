"""The whole acquisition path on the S3 backend (moto over real HTTP, real minio client)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path

from ingest.acquire import CaptureMeta, IngestCallbacks, ingest
from ingest.fixity import fixity
from ingest.sample_dump import make_clip, make_sample_dump
from storage.objects.hashing import original_key
from storage.objects.s3 import S3ObjectStore
from storage.services import Services
from tests.storage.s3_server import moto_s3_server


def test_ingest_and_fixity_on_s3(make_services: object, tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    make_sample_dump(dump, seconds=1.0)
    with moto_s3_server() as endpoint:
        svc: Services = make_services(  # type: ignore[operator]
            object_store="s3",
            s3_endpoint=endpoint,
            s3_access_key="testing",
            s3_secret_key="testing",
            s3_region="us-east-1",
            s3_bucket="custos-ingest",
            digests="sha256,sm3",
        )
        assert isinstance(svc.store, S3ObjectStore) and svc.store.object_lock
        receipt = ingest(svc, [dump], CaptureMeta(case_no="C-1"))
        counts = receipt.counts()
        assert counts["stored"] == 3 and counts["duplicate"] == 1 and counts["unplayable"] == 3
        stored = [e for e in receipt.entries if e.status == "stored"]
        for entry in stored:
            info = svc.store.stat(
                f"originals/sha256/{entry.sha256[:2]}/"  # type: ignore[index]
                f"{entry.sha256[2:4]}/{entry.sha256}"
            )
            assert info is not None and info.worm and info.retain_until is not None
            assert entry.duration_s and entry.duration_s > 0.9  # probed from the stored bytes
        assert not list(svc.store.list("incoming/"))
        report = fixity(svc)
        assert report.checked == 7 and not report.failures


def _s3_services(make_services: object, endpoint: str, bucket: str) -> Services:
    svc: Services = make_services(  # type: ignore[operator]
        object_store="s3",
        s3_endpoint=endpoint,
        s3_access_key="testing",
        s3_secret_key="testing",
        s3_region="us-east-1",
        s3_bucket=bucket,
    )
    return svc


def test_s3_probe_reads_the_stored_bytes_not_the_source(
    make_services: object, tmp_path: Path
) -> None:
    """The source is overwritten after it was stored and before it is probed: the probe
    must describe what the store holds (a playable clip), not what the path holds now."""
    clip = make_clip(tmp_path / "BWC0042_20261103141500_0001.MP4", seconds=1.0)
    with moto_s3_server() as endpoint:
        svc = _s3_services(make_services, endpoint, "custos-probe")

        def garble(path: Path, size: int) -> None:
            path.write_bytes(os.urandom(size))

        entry = ingest(
            svc, [clip], CaptureMeta(case_no="C-1"), IngestCallbacks(on_file=garble)
        ).entries[0]
        assert entry.status == "stored", entry.reason
        assert entry.duration_s is not None and entry.duration_s > 0.9


def test_s3_duplicate_repairs_a_rotten_stored_copy(make_services: object, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    clip = make_clip(tmp_path / "a" / "BWC0042_20261103141500_0001.MP4", seconds=1.0)
    data = clip.read_bytes()
    with moto_s3_server() as endpoint:
        svc = _s3_services(make_services, endpoint, "custos-repair")
        store = svc.store
        assert isinstance(store, S3ObjectStore)
        first = ingest(svc, [clip], CaptureMeta(case_no="C-1")).entries[0]
        key = original_key(str(first.sha256))
        bad = data[:3000] + b"\xff" + data[3001:]
        store.client.put_object(store.bucket, key, io.BytesIO(bad), len(bad))  # rot
        assert fixity(svc).failures
        copy = tmp_path / "b" / clip.name
        copy.parent.mkdir()
        shutil.copyfile(clip, copy)
        entry = ingest(svc, [copy], CaptureMeta(case_no="C-1")).entries[0]
        assert entry.status == "duplicate" and "repaired" in str(entry.reason)
        assert hashlib.sha256(store.get_bytes(key)).hexdigest() == first.sha256
        info = store.stat(key)
        assert info is not None and info.worm and info.retain_until is not None
        assert not fixity(svc).failures
