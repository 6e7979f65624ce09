"""The S3 server cut off mid-upload (a proxy in front of moto drops every connection and
refuses new ones for longer than the client retries): no half-uploaded object appears
under a key, the files that failed are named, the same ingest again stores them, and
reconcile, ledger and fixity agree afterwards."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
from pathlib import Path

import pytest
from minio import Minio

from tests.reliability.aftermath import check_aftermath
from tests.reliability.faults import TcpProxy
from tests.reliability.procs import Run, custos, custos_env
from tests.storage.s3_server import moto_s3_server

pytestmark = pytest.mark.slow

FILES = 4
FILE_BYTES = 12 * 1024 * 1024  # three 5 MiB parts each: a multipart upload
OUTAGE_S = 8.0


def test_s3_cut_off_mid_upload(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    digests = {}
    for i in range(FILES):
        data = os.urandom(FILE_BYTES)
        name = f"ch{i:02d}_20261103_1415{i:02d}.bin"
        (dump / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    with moto_s3_server() as endpoint:
        host, port = endpoint.split(":")
        proxy = TcpProxy((host, int(port)))
        try:
            env = custos_env(
                tmp_path / "data", object_store="s3", s3_endpoint=proxy.endpoint,
                s3_access_key="testing", s3_secret_key="testing", s3_region="us-east-1",
                s3_bucket="custos-faults", s3_part_size=str(5 * 1024 * 1024),
                retention_days="1", retention_mode="GOVERNANCE", pipeline_stages="",
                ingest_readers="1",
            )  # fmt: skip
            result: list[Run] = []
            batch = threading.Thread(target=lambda: result.append(
                custos(env, "ingest", str(dump), "--json", timeout=300)))  # fmt: skip
            batch.start()
            deadline = time.monotonic() + 120
            while proxy.bytes_up < FILE_BYTES // 2:  # half-way through the first file
                assert batch.is_alive(), result[0].stderr[-2000:] if result else "?"
                assert time.monotonic() < deadline, "no upload started"
                time.sleep(0.01)
            cut_at = proxy.bytes_up
            proxy.cut()
            time.sleep(OUTAGE_S)
            proxy.restore()
            batch.join(300)
            (first,) = result
            outcome = "crashed"
            if first.rc in (0, 3):
                files = json.loads(first.stdout)["files"]
                failed = [f for f in files if f["status"] == "unreadable"]
                assert all("not stored" in f["reason"] for f in failed), failed
                outcome = f"{len(files) - len(failed)}/{FILES} stored, {len(failed)} named"
            print(
                f"figures: S3 cut after {cut_at >> 20} MiB sent for {OUTAGE_S:.0f} s: "
                f"exit {first.rc}, {outcome}"
            )

            again = custos(env, "ingest", str(dump), "--json", timeout=300)
            assert again.rc == 0, again.stderr[-3000:]
            files_by = {Path(f["path"]).name: f for f in json.loads(again.stdout)["files"]}
            assert {n: f["sha256"] for n, f in files_by.items()} == digests
            after = check_aftermath(env, wait_jobs=False)
            assert after.fixity_checked == FILES
            # Nothing half-uploaded is visible: every original is whole, and no temporary
            # upload is left behind under incoming/.
            client = Minio(endpoint, access_key="testing", secret_key="testing",
                           secure=False, region="us-east-1")  # fmt: skip
            names = [o.object_name for o in client.list_objects("custos-faults", recursive=True)]
            originals = [n for n in names if n and n.startswith("originals/")]
            assert sorted(n.rsplit("/", 1)[-1] for n in originals) == sorted(digests.values())
            for name in originals:
                body = client.get_object("custos-faults", name)
                try:
                    assert hashlib.sha256(body.read()).hexdigest() == name.rsplit("/", 1)[-1]
                finally:
                    body.close()
                    body.release_conn()
            leftovers = [n for n in names if n and n.startswith("incoming/")]
            print(f"figures: S3 temporary uploads left under incoming/: {len(leftovers)}")
        finally:
            proxy.close()


def test_a_server_gone_silent_costs_bounded_time(tmp_path: Path) -> None:
    """A server that stops answering without resetting anything (a host powered off):
    every request gives up after the client's read time-out and its retries, and the
    write fails as a storage error, instead of waiting minio's 5 minutes per try."""
    from urllib3 import Timeout

    from storage.errors import StorageError
    from storage.objects import s3 as s3_module

    with moto_s3_server() as endpoint:
        host, port = endpoint.split(":")
        proxy = TcpProxy((host, int(port)))
        try:
            quick = s3_module.http_client(Timeout(connect=2, read=2))
            client = Minio(proxy.endpoint, access_key="testing", secret_key="testing",
                           secure=False, region="us-east-1", http_client=quick)  # fmt: skip
            store = s3_module.S3ObjectStore(client, "custos-silent", retention_days=1,
                                            retention_mode="GOVERNANCE")  # fmt: skip
            store.ensure_bucket(object_lock=True)
            proxy.silent = True
            started = time.monotonic()
            with pytest.raises(StorageError):
                store.put("derived/x/y", io.BytesIO(os.urandom(1024 * 1024)))
            waited = time.monotonic() - started
            print(
                f"figures: S3 gone silent: the write failed after {waited:.1f} s "
                "(2 s time-outs, 6 tries)"
            )
            assert waited < 60
        finally:
            proxy.close()
    # The deployment's own client has bounded waits too (not minio's 300 s ones).
    assert s3_module.HTTP_TIMEOUT.read_timeout is not None
    assert s3_module.HTTP_TIMEOUT.read_timeout <= 120


@pytest.mark.redis
@pytest.mark.postgres
def test_s3_cut_off_while_workers_store_outputs(tmp_path: Path, postgres_url: str) -> None:
    """The S3 server goes away for 8 s while a worker normalises: the stage's writes fail,
    the job is retried once the server is back, and every job ends done with its outputs
    stored once; reconcile, ledger and fixity agree."""
    from tests.reliability.pool import mpeg2, running, stop, worker
    from tests.workers.redis_server import RedisServer

    dump = tmp_path / "dump"
    dump.mkdir()
    mpeg2(dump / "ch01_20261103_141500.mpg", 8)
    redis = RedisServer(tmp_path / "redis", "--appendonly", "yes").start()
    proc = None
    with moto_s3_server() as endpoint:
        host, port = endpoint.split(":")
        proxy = TcpProxy((host, int(port)))
        try:
            env = custos_env(
                tmp_path / "data", object_store="s3", s3_endpoint=proxy.endpoint,
                s3_access_key="testing", s3_secret_key="testing", s3_region="us-east-1",
                s3_bucket="custos-workers", retention_days="1", retention_mode="GOVERNANCE",
                database_url=postgres_url, redis_url=redis.url, worker_heartbeat_s="2",
                redis_maintenance_chance="300000", pipeline_stages="normalise",
            )  # fmt: skip
            assert custos(env, "ingest", str(dump), "--json").rc == 0
            proc = worker(env, tmp_path / "w.log")
            running(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
            proxy.cut()
            time.sleep(OUTAGE_S)
            proxy.restore()
            after = check_aftermath(env)
            (job,) = after.jobs
            print(f"figures: S3 cut while a worker normalises: job {job['status']} after "
                  f"{job['attempts']} attempts")  # fmt: skip
            assert job["status"] == "done", job
            assert proc.poll() is None, "the worker died with the object store"
        finally:
            if proc is not None:
                stop(proc)
            proxy.close()
            redis.kill()
