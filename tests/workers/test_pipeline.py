from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from ingest.acquire import CaptureMeta, IngestCallbacks, ingest
from ingest.sample_dump import make_clip
from storage.config import PIPELINE_STAGE_NAMES, Settings
from storage.db.schema import Derivative, Job, LedgerEvent, Recording
from storage.services import Services
from tests.factories import add_recording
from tests.workers.redis_server import RedisServer
from workers import jobs
from workers.embedded import EmbeddedWorkers, wait_for_jobs
from workers.pipeline import JobPlanner, SweepResult, enqueue_pipeline, reprocess, sweep
from workers.runner import execute, install_services
from workers.stages import STAGES


def _ingest_clips(svc: Services, folder: Path, n: int = 2) -> list[str]:
    folder.mkdir(exist_ok=True)
    for i in range(n):
        make_clip(folder / f"BWC0042_2026110314{i:02d}00_{i:04d}.MP4", seconds=1.5, tone=300 + i)
    ids: list[str] = []
    ingest(svc, [folder], CaptureMeta(), IngestCallbacks(on_new_recording=ids.append))
    return ids


def _count(svc: Services, model: type, *where: object) -> int:
    with svc.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_embedded_pipeline_runs_and_repeats_nothing(svc: Services, tmp_path: Path) -> None:
    ids = _ingest_clips(svc, tmp_path / "dump")
    created = enqueue_pipeline(svc, ids, stages=("normalise",))
    assert len(created) == 2
    with EmbeddedWorkers(svc, threads=2):
        assert wait_for_jobs(svc, timeout_s=300)
    views = jobs.list_jobs(svc)
    assert [v.status for v in views] == ["done", "done"], [v.error for v in views]
    outputs = _count(svc, Derivative)
    derived_events = _count(svc, LedgerEvent, LedgerEvent.action == "derived")
    assert outputs > 0 and derived_events == outputs
    # The same recordings queued again: the jobs exist, nothing new is created or run.
    assert enqueue_pipeline(svc, ids, stages=("normalise",)) == []
    # A redelivered message for a finished job is a no-op.
    install_services(svc)
    try:
        assert execute("normalise", views[0].id) is None
    finally:
        install_services(None)
    assert _count(svc, Derivative) == outputs
    assert _count(svc, LedgerEvent, LedgerEvent.action == "derived") == derived_events


def test_reprocess_runs_the_stage_again_without_duplicating_outputs(
    svc_sqlite: Services, tmp_path: Path
) -> None:
    svc = svc_sqlite
    ids = _ingest_clips(svc, tmp_path / "dump", n=1)
    enqueue_pipeline(svc, ids, stages=("normalise",))
    with EmbeddedWorkers(svc):
        assert wait_for_jobs(svc, timeout_s=300)
        outputs = _count(svc, Derivative)
        job = reprocess(svc, ids[0], "normalise")
        assert wait_for_jobs(svc, timeout_s=300)
    after = jobs.get(svc, job.id)
    assert after is not None and after.status == "done" and after.attempts == 1
    assert _count(svc, Derivative) == outputs
    with pytest.raises(ValueError, match="unknown stage"):
        reprocess(svc, ids[0], "nonsense")


def test_embedded_restart_resumes_unfinished_jobs(svc_sqlite: Services, tmp_path: Path) -> None:
    """Jobs queued by a process that then died (no messages survive) are run on restart."""
    svc = svc_sqlite
    ids = _ingest_clips(svc, tmp_path / "dump", n=1)
    enqueue_pipeline(svc, ids, stages=("normalise",))
    # Simulate a job that a now-dead process had started.
    with svc.db.session() as session:
        job = session.scalars(select(Job)).one()
        job.status, job.worker = "running", f"{os.uname().nodename}:999999:1"
        job.heartbeat_at = datetime.now(UTC)
    with EmbeddedWorkers(svc):
        assert wait_for_jobs(svc, timeout_s=300)
    assert [v.status for v in jobs.list_jobs(svc)] == ["done"]


def test_undecodable_media_fails_once_with_its_reason(svc_sqlite: Services) -> None:
    svc = svc_sqlite
    rec_id = add_recording(
        svc,
        b"\x00\x00\x00\x18ftypmp42" + os.urandom(4096),
        original_name="broken.mp4",
        duration_s=5.0,
    )
    enqueue_pipeline(svc, [rec_id], stages=("normalise",))
    with EmbeddedWorkers(svc):
        assert wait_for_jobs(svc, timeout_s=120)
    (view,) = jobs.list_jobs(svc)
    assert view.status == "failed"
    assert view.attempts == 1
    assert view.error and "could not read the media" in view.error


def test_time_limit_scales_with_duration() -> None:
    stage = STAGES["normalise"]
    assert stage.time_limit_ms(3600) > stage.time_limit_ms(60) > 0


def test_redis_that_evicts_keys_is_refused(tmp_path: Path) -> None:
    from dramatiq.brokers.redis import RedisBroker

    from workers.broker import check_redis_policy
    from workers.errors import BrokerConfigError

    server = RedisServer(tmp_path / "r", "--maxmemory-policy", "allkeys-lru").start()
    try:
        broker = RedisBroker(url=server.url)
        with pytest.raises(BrokerConfigError, match="allkeys-lru"):
            check_redis_policy(broker)
        broker.client.config_set("maxmemory-policy", "noeviction")
        check_redis_policy(broker)
        broker.close()
    finally:
        server.kill()


def test_ingest_refuses_to_queue_on_an_evicting_redis(tmp_path: Path) -> None:
    import subprocess
    import sys

    server = RedisServer(tmp_path / "r", "--maxmemory-policy", "allkeys-lru").start()
    try:
        dump = tmp_path / "dump"
        dump.mkdir()
        make_clip(dump / "BWC0042_20261103141500_0001.MP4", seconds=1.0)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
        env.update({"CUSTOS_DATA_DIR": str(tmp_path / "data"), "CUSTOS_REDIS_URL": server.url})
        done = subprocess.run(
            [sys.executable, "-m", "api", "ingest", str(dump)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 2
        assert "allkeys-lru" in done.stderr and "stored" in done.stderr
        assert list((tmp_path / "data" / "receipts").glob("receipt-*.csv"))
    finally:
        server.kill()


# -- every stored recording gets its jobs (issue 10, items 1 and 13) ------------------------
def test_stage_names_known_to_settings_are_the_stages() -> None:
    assert tuple(STAGES) == PIPELINE_STAGE_NAMES


def test_an_unknown_stage_is_refused_when_settings_load(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown stage.*ocr"):
        Settings(data_dir=tmp_path, pipeline_stages="normalise,ocr")
    assert Settings(data_dir=tmp_path, pipeline_stages="").pipeline_stages == []


class _Killed(BaseException):
    """Stands for kill -9 between a recording's commit and its messages."""


def test_jobs_are_written_with_the_recording_and_sent_after_the_commit(
    make_services: object, tmp_path: Path
) -> None:
    svc: Services = make_services(pipeline_stages="normalise")  # type: ignore[operator]
    folder = tmp_path / "dump"
    folder.mkdir()
    for i in range(3):
        make_clip(folder / f"BWC0042_2026110314{i:02d}00_{i:04d}.MP4", seconds=1.0, tone=300 + i)
    planner = JobPlanner(svc)
    callbacks = IngestCallbacks(in_transaction=planner.plan)

    def killed(job_ids: list[str]) -> None:
        raise _Killed

    callbacks.after_commit = killed
    with pytest.raises(_Killed):
        ingest(svc, [folder], CaptureMeta(), callbacks)
    # Killed right after the first commit: its recording has its job, never sent.
    with svc.db.session() as session:
        recordings = session.scalars(select(Recording)).all()
        queued = session.scalars(select(Job)).all()
    assert len(recordings) == 1
    assert [(j.recording_id, j.stage, j.sent_at) for j in queued] == [
        (recordings[0].id, "normalise", None)
    ]
    # The start-up sweep sends what was never sent ...
    assert sweep(svc) == SweepResult(created=0, sent=1)
    assert jobs.unsent(svc) == []
    # ... and the rerun gives the other recordings theirs, in their own transactions.
    planner = JobPlanner(svc)
    sent: list[str] = []
    callbacks = IngestCallbacks(in_transaction=planner.plan, after_commit=sent.extend)
    receipt = ingest(svc, [folder], CaptureMeta(), callbacks)
    assert [e.resumed for e in receipt.entries] == [True, False, False]
    assert len(sent) == 2
    with svc.db.session() as session:
        per_recording = dict(
            session.execute(
                select(Recording.id, func.count(Job.id)).outerjoin(Job).group_by(Recording.id)
            ).all()
        )
    assert sorted(per_recording.values()) == [1, 1, 1]


def test_sweep_creates_the_missing_jobs_once(make_services: object) -> None:
    svc: Services = make_services(pipeline_stages="normalise")  # type: ignore[operator]
    video = add_recording(svc, duration_s=3.0)
    audio = add_recording(svc, media_kind="audio")
    add_recording(svc, media_kind="image")
    add_recording(svc, status="unplayable")
    add_recording(svc, disposed_at=datetime.now(UTC))
    assert sweep(svc, send=False) == SweepResult(created=2, sent=0)
    assert sorted(j.recording_id for j in jobs.list_jobs(svc)) == sorted([video, audio])
    assert sweep(svc) == SweepResult(created=0, sent=2)  # the two never sent
    assert sweep(svc) == SweepResult(created=0, sent=0)
    # A job of the stage with other parameters counts: a changed setting reprocesses nothing.
    with svc.db.session() as session:
        for job in session.scalars(select(Job)):
            job.params_hash = "0" * 64
    assert sweep(svc) == SweepResult(created=0, sent=0)
    nothing: Services = make_services(  # type: ignore[operator]
        pipeline_stages="", data_dir=svc.settings.data_dir
    )
    assert sweep(nothing) == SweepResult(created=0, sent=0)
