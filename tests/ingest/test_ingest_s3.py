"""The whole acquisition path on the S3 backend (moto over real HTTP, real minio client)."""

from __future__ import annotations

from pathlib import Path

from ingest.acquire import CaptureMeta, ingest
from ingest.fixity import fixity
from ingest.sample_dump import make_sample_dump
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
            assert entry.duration_s and entry.duration_s > 0.9  # probed from the source file
        assert not list(svc.store.list("incoming/"))
        report = fixity(svc)
        assert report.checked == 7 and not report.failures
