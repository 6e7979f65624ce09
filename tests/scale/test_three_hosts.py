"""Hosts that share no disk: PostgreSQL, Redis (AOF, noeviction) and an S3 server, and three
hosts, each a process group of the real CLI with a data folder of its own (scratch and cache
only; with namespaces, each host sees no other host's folder and the workers not the dump).

Host A ingests a dump and serves the API, host B runs the `cpu` queue, host C the `gpu`
queue (on the CPU). Everything completes; a second dump is ingested and host B is
SIGKILLed (the whole group, ffmpeg included) in the middle of a job and a fresh B' started
in its place: nothing is lost, nothing done twice. Then the workers' data folders are
deleted and A redacts, renders and exports the face clip from the work B and C did; the
package verifies. No row anywhere names a host's data folder."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import create_engine, text

from ingest.sample_dump import make_clip
from tests.conftest import shared_media
from tests.reliability.aftermath import check_aftermath
from tests.scale.hosts import Host
from tests.storage.s3_server import moto_s3_server
from tests.workers.redis_server import RedisServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres, pytest.mark.media]

DEADLINE_S = 240.0
LONG_CLIP = "CH01_20261103_150000.mpg"  # MPEG-2, re-encoded: the job B dies in


def _rows(db_url: str, query: str) -> list[dict[str, Any]]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(query))]
    finally:
        engine.dispose()


def _mpeg2(path: Path, seconds: int) -> Path:
    """MPEG-2 is re-encoded by normalise (H.264 would only be remuxed): a job long enough
    to be killed in the middle."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
         f"testsrc2=size=960x540:rate=25:duration={seconds}", "-f", "lavfi", "-i",
         f"sine=frequency=330:duration={seconds}", "-c:v", "mpeg2video", "-q:v", "4",
         "-c:a", "mp2", str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    return path


def _wait_done(
    db_url: str, hosts: list[Host], expect: int, timeout_s: float
) -> list[dict[str, Any]]:
    """Until `expect` jobs exist and all are done; fails on a failed job or a dead host."""
    deadline = time.monotonic() + timeout_s
    jobs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        jobs = _rows(db_url, "SELECT * FROM jobs")
        failed = [j for j in jobs if j["status"] == "failed"]
        assert not failed, [(j["stage"], j["worker"], j["error"]) for j in failed]
        for host in hosts:
            dead = [p.args for p in host.procs if p.poll() is not None]
            assert not dead, f"host {host.name} exited: {dead}\n{host.log_tail()}"
        if len(jobs) >= expect and all(j["status"] == "done" for j in jobs):
            return jobs
        time.sleep(0.25)
    logs = "\n".join(h.log_tail() for h in hosts)
    pytest.fail(f"jobs not done in {timeout_s:.0f} s: {jobs}\n{logs}")


def _stage_done_actors(db_url: str) -> dict[str, list[str]]:
    """Per job id, the actor (host) of each `stage_done` ledger event it has."""
    out: dict[str, list[str]] = {}
    for row in _rows(db_url, "SELECT actor, details FROM ledger_events "
                             "WHERE action = 'stage_done'"):  # fmt: skip
        details = row["details"] if isinstance(row["details"], dict) else json.loads(row["details"])
        out.setdefault(details["job"], []).append(row["actor"])
    return out


def _ready(port: int, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
                body: dict[str, Any] = json.loads(resp.read())
                return body
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _ok(run: Any, what: str) -> Any:
    assert run.rc == 0, f"{what}: rc {run.rc}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return json.loads(run.stdout) if run.stdout.strip().startswith(("{", "[")) else run.stdout


def test_three_hosts_share_no_disk(tmp_path: Path, postgres_url: str) -> None:
    face_clip = shared_media("av", "grid_bbaf2n.mpg")
    started = time.monotonic()
    redis = RedisServer(
        tmp_path / "redis", "--appendonly", "yes", "--maxmemory-policy", "noeviction"
    ).start()
    dumps = tmp_path / "dumps"
    first, second = dumps / "first", dumps / "second"
    first.mkdir(parents=True)
    second.mkdir()
    shutil.copyfile(face_clip, first / "IR01_20261103_141500.mpg")
    make_clip(first / "BWC0042_20261103141500_0001.MP4", seconds=2.0)
    _mpeg2(second / LONG_CLIP, 12)
    make_clip(second / "BWC0042_20261103150000_0002.MP4", seconds=1.0, tone=550)
    root = tmp_path / "hosts"
    root.mkdir()
    hosts: list[Host] = []
    try:
        with moto_s3_server() as endpoint:
            settings = {
                "database_url": postgres_url,
                "redis_url": redis.url,
                "object_store": "s3",
                "s3_endpoint": endpoint,
                "s3_access_key": "testing",
                "s3_secret_key": "testing",
                "s3_region": "us-east-1",
                "s3_bucket": f"custos-hosts-{uuid.uuid4().hex[:12]}",
                "worker_heartbeat_s": "2",
                "redis_maintenance_chance": "300000",
                "device": "cpu",
            }
            a = Host("a", root, settings)
            b = Host("b", root, settings, hidden=(dumps,))
            c = Host("c", root, settings, hidden=(dumps,))
            hosts += [a, b, c]
            if a.namespaced:  # the hosts really see no other host's disk
                assert a.sees(first) and b.sees(b.data_dir)
                assert not b.sees(first) and not c.sees(a.data_dir) and not a.sees(c.data_dir)

            # --- host A ingests; B and C work; A serves ------------------------------
            # The worker pools are up first, as in a deployment, on an empty archive.
            b.start("worker", "--queues", "cpu", "--processes", "1", "--threads", "1")
            c.start("worker", "--queues", "gpu", "--processes", "1", "--threads", "1")
            receipt = _ok(a.run("ingest", str(first), "--case", "C-HOSTS-1", "--json"), "ingest")
            first.rename(dumps / "first-returned")  # the card goes back: only the store has it
            stored = {Path(e["path"]).name: e for e in receipt["files"] if e["status"] == "stored"}
            assert len(stored) == 2, receipt
            face_rec = stored["IR01_20261103_141500.mpg"]["recording_id"]
            port = free_port()
            a.start("serve", "--port", str(port))
            assert _ready(port)["status"] == "ok"
            jobs = _wait_done(postgres_url, hosts, 6, DEADLINE_S)
            first_done = time.monotonic() - started
            actors = _stage_done_actors(postgres_url)
            for job in jobs:
                where = b if job["queue"] == "cpu" else c
                assert actors[job["id"]] == [f"host-{where.name}"], (job, actors.get(job["id"]))
                if a.namespaced:  # own host names: the worker id says where it ran
                    assert str(job["worker"]).startswith(f"{where.hostname}:"), job

            # --- a second dump; host B SIGKILLed mid-job; B' takes its place ---------
            receipt = _ok(a.run("ingest", str(second), "--case", "C-HOSTS-1", "--json"), "ingest")
            second.rename(dumps / "second-returned")
            assert receipt["counts"].get("stored") == 2, receipt
            victim = _running_on(postgres_url, b)
            b.kill()
            killed_at = time.monotonic()
            assert not (b.data_dir / "keys").exists()  # it started on an empty archive
            shutil.rmtree(b.data_dir)  # the dead host's disk goes with it
            b2 = Host("b2", root, settings, hidden=(dumps,))
            hosts.append(b2)
            b2.start("worker", "--queues", "cpu", "--processes", "1", "--threads", "1")
            jobs = _wait_done(postgres_url, [a, b2, c], 12, DEADLINE_S)
            recovered = time.monotonic() - killed_at
            by_id = {j["id"]: j for j in jobs}
            taken_over = by_id[victim["id"]]
            assert taken_over["attempts"] >= 2, (victim, taken_over)
            assert taken_over["worker"] != victim["worker"], (victim, taken_over)
            actors = _stage_done_actors(postgres_url)
            assert actors[victim["id"]] == ["host-b2"], actors[victim["id"]]
            # Every job finished exactly once: one stage_done event each, no more.
            assert sorted(actors) == sorted(by_id) and all(len(v) == 1 for v in actors.values())
            _one_of_each_output(postgres_url)

            # --- the workers' disks are gone; A exports from what B and C stored ------
            for worker in (b2, c):
                worker.stop()
                # No worker host made a ledger key of its own (only A signs).
                assert not (worker.data_dir / "keys").exists(), list(worker.data_dir.rglob("*"))
                shutil.rmtree(worker.data_dir)
            _api_serves_poster(a, port, face_rec, postgres_url)  # made on B, read on A
            package = _export_on(a, face_rec, tmp_path / "out" / "face.zip")
            assert _ok(a.run("verify", str(package), "--json"), "verify")["ok"]
            exported = time.monotonic() - started

            # --- nothing any host wrote names a place on some host's disk --------------
            _no_host_paths(postgres_url, root)
            after = check_aftermath(a.env)
            assert len(after.jobs) == 12 and after.fixity_checked == 4
            assert [j["status"] for j in after.jobs] == ["done"] * 12
            print(
                f"figures: three hosts ({'namespaced' if a.namespaced else 'bare'}): first dump "
                f"processed at {first_done:.1f} s; B SIGKILLed while its ffmpeg encoded "
                f"({victim['progress']:.0%} in the jobs table), its job taken over by B' (attempt "
                f"{taken_over['attempts']}) and all 12 jobs done {recovered:.1f} s after the "
                f"kill; exported and verified on A at {exported:.1f} s; total "
                f"{time.monotonic() - started:.1f} s"
            )
    finally:
        for host in hosts:
            host.kill()
        redis.kill()


def _api_serves_poster(host: Host, port: int, recording: str, db_url: str) -> None:
    """The API on `host` serves the poster another host made, byte for byte."""
    _ok(host.run("user", "add", "auditor1", "--role", "auditor", "--password-stdin",
                 stdin="hosts-share-no-disk\n"), "user add")  # fmt: skip
    form = urllib.parse.urlencode({"username": "auditor1", "password": "hosts-share-no-disk"})
    base = f"http://127.0.0.1:{port}/api"
    with urllib.request.urlopen(f"{base}/auth/token", data=form.encode(), timeout=30) as resp:
        token = json.loads(resp.read())["access_token"]
    request = urllib.request.Request(
        f"{base}/recordings/{recording}/media/poster", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        body = resp.read()
    (row,) = _rows(db_url, f"SELECT sha256 FROM derivatives WHERE recording_id = '{recording}' "
                           "AND kind = 'poster'")  # fmt: skip
    assert body and hashlib.sha256(body).hexdigest() == row["sha256"]


def _export_on(host: Host, recording: str, package: Path) -> Path:
    """Plan, render, acknowledge what the exposure check left open, export: on `host`."""
    plan = _ok(host.run("redact", recording, "--json"), "redact")
    faces = [t for t in plan["plan"]["tracks"] if t["category"] == "face"]
    assert faces and all(t["redact"] for t in faces), plan  # the face track detect stored
    render = _ok(host.run("render", recording, "--json"), "render")
    for finding in render["findings"]:
        if finding["state"] == "open":
            why = "reviewed: not a person"
            _ok(host.run("acknowledge", recording, str(finding["id"]), "--reason", why), "ack")
    package.parent.mkdir(parents=True, exist_ok=True)
    export = _ok(host.run("export", recording, "--purpose", "public", "--recipient",
                          "press office", "--out", str(package), "--json"), "export")  # fmt: skip
    assert export["recording_id"] == recording and package.is_file(), export
    with zipfile.ZipFile(package) as zf:
        names = zf.namelist()
    # The redacted video and the transcript C made (redacted) are in the package.
    assert any("/data/media/" in n for n in names), names
    assert any("/data/transcripts/" in n for n in names), names
    return package


def _running_on(db_url: str, host: Host, timeout_s: float = 120.0) -> dict[str, Any]:
    """The long clip's normalise job on `host`, its ffmpeg past the first 5 % of the encode."""
    query = (
        "SELECT j.* FROM jobs j JOIN recordings r ON r.id = j.recording_id "
        f"WHERE j.status = 'running' AND r.original_name = '{LONG_CLIP}'"
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = host.pids()
        names = set()
        for pid in pids:
            try:
                names.add(psutil.Process(pid).name())
            except psutil.Error:
                continue
        if "ffmpeg" in names:
            for job in _rows(db_url, query):
                mine = int(str(job["worker"]).split(":")[1]) in pids
                if mine and float(job["progress"]) > 0.05:  # in the middle of the encode
                    return job
        time.sleep(0.05)
    pytest.fail(f"no job ran on host {host.name}: {_rows(db_url, 'SELECT * FROM jobs')}")


def _one_of_each_output(db_url: str) -> None:
    """Each output stored once, under one key, with one `derived` ledger event."""
    rows = _rows(db_url, "SELECT recording_id, kind, object_key FROM derivatives")
    keys = [r["object_key"] for r in rows]
    assert keys and len(keys) == len(set(keys)), Counter(keys).most_common(3)
    # One of each kind per recording (a detect run has one thumbnail per track).
    per_kind = Counter((r["recording_id"], r["kind"]) for r in rows
                       if r["kind"] != "track-thumbnail")  # fmt: skip
    assert max(per_kind.values()) == 1, per_kind.most_common(3)
    for table in ("transcripts", "detect_runs"):
        per_rec = Counter(r["recording_id"] for r in _rows(db_url, f"SELECT * FROM {table}"))
        assert len(per_rec) == 4 and max(per_rec.values()) == 1, (table, per_rec)
    events = _rows(db_url, "SELECT details FROM ledger_events WHERE action = 'derived'")
    derived = [
        (e["details"] if isinstance(e["details"], dict) else json.loads(e["details"]))["key"]
        for e in events
    ]
    assert Counter(derived) == Counter(keys)


def _no_host_paths(db_url: str, root: Path) -> None:
    """No row of any table names a host's data folder; outputs name no local path at all."""
    tables = [r["tablename"] for r in _rows(
        db_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]  # fmt: skip
    needle = str(root)
    for table in tables:
        hits = _rows(db_url, f'SELECT row_to_json(t)::text AS row FROM "{table}" t '
                             f"WHERE row_to_json(t)::text LIKE '%{needle}%'")  # fmt: skip
        assert not hits, f"{table} names a host's data folder: {hits[0]['row'][:500]}"
    absolute = re.compile(r'"(/(?:tmp|home|root|var|srv|work|mnt)/[^"]*)"')
    for query in (
        "SELECT outputs::text AS row FROM jobs",
        "SELECT row_to_json(d)::text AS row FROM derivatives d",
        "SELECT details::text AS row FROM ledger_events WHERE action = 'stage_done'",
        "SELECT details::text AS row FROM ledger_events WHERE action = 'derived'",
    ):
        for row in _rows(db_url, query):
            assert not absolute.search(row["row"]), row["row"][:500]


def test_hosts_starting_together_on_a_fresh_database(tmp_path: Path, postgres_url: str) -> None:
    """An API host and its worker pools started at once on a new PostgreSQL database: each
    runs the migrations on start, and all of them come up (they take turns)."""
    root = tmp_path / "hosts"
    hosts = [Host(name, root, {"database_url": postgres_url}) for name in "abcd"]
    try:
        for host in hosts:
            host.start("jobs", "--json")
        for host in hosts:
            (proc,) = host.procs
            assert proc.wait(timeout=120) == 0, host.log_tail()
        (version,) = _rows(postgres_url, "SELECT count(*) AS heads FROM alembic_version")
        assert version["heads"] >= 1
    finally:
        for host in hosts:
            host.kill()
