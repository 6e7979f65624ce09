"""Load on loopback, bounded in time: `custos serve` (a real process, embedded workers
normalising what arrives) takes concurrent tus uploads and ranged reads of an original
for LOAD_S seconds. Measured: requests per second, p50/p99 latency, errors (goal: none),
uploads lost (goal: none: every upload that completed is ingested with the digest of
the bytes sent), and every ranged read returns exactly the bytes asked for."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.sample_dump import make_clip
from tests.reliability.aftermath import check_aftermath
from tests.reliability.procs import REPO, custos, custos_env
from tests.workers.redis_server import free_port

pytestmark = pytest.mark.slow

LOAD_S = float(os.environ.get("RELIABILITY_LOAD_SECONDS", "20"))
UPLOADERS = 4
READERS = 4
CASE = "L-1"
PASSWORD = "correct horse battery"
TUS = {"Tus-Resumable": "1.0.0"}


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    completed: dict[str, str] = field(default_factory=dict)  # upload url -> sha256 sent
    lock: threading.Lock = field(default_factory=threading.Lock)

    def took(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(seconds)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _timed(tally: Tally, kind: str, send: object) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response: httpx.Response = send()  # type: ignore[operator]
    except httpx.HTTPError as exc:
        tally.error(f"{kind}: {type(exc).__name__}: {exc}")
        return None
    tally.took(kind, time.perf_counter() - started)
    return response


def _upload(client: httpx.Client, base: str, auth: dict[str, str], data: bytes, name: str,
            tally: Tally) -> None:  # fmt: skip
    import base64

    fields = {"filename": name, "case": CASE, "batch": "load"}
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())
    made = _timed(tally, "tus create", lambda: client.post(f"{base}/api/uploads/", headers={
        **auth, **TUS, "Upload-Length": str(len(data)), "Upload-Metadata": meta}))  # fmt: skip
    if made is None or made.status_code != 201:
        tally.error(f"create: {made.status_code if made else '-'} {made.text if made else ''}")
        return
    url = made.headers["location"]
    half = len(data) // 2
    for offset, part in ((0, data[:half]), (half, data[half:])):
        sent = _timed(tally, "tus patch", lambda o=offset, p=part: client.patch(url, content=p,
            headers={**auth, **TUS, "Upload-Offset": str(o),
                     "Content-Type": "application/offset+octet-stream"}))  # fmt: skip
        if sent is None or sent.status_code != 204:
            tally.error(f"patch: {sent.status_code if sent else '-'} {sent.text if sent else ''}")
            return
    with tally.lock:
        tally.completed[url] = hashlib.sha256(data).hexdigest()


def _settled(client: httpx.Client, url: str, auth: dict[str, str], until: float
             ) -> dict[str, Any]:  # fmt: skip
    """The upload once acquisition (a background task after the last PATCH) has run."""
    while True:
        body: dict[str, Any] = client.get(url, headers={**auth, **TUS}).json()
        if body["state"] in ("ingested", "failed") or time.monotonic() > until:
            return body
        time.sleep(0.1)


def test_concurrent_uploads_and_range_reads_while_workers_process(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = custos_env(data_dir, pipeline_stages="normalise")
    for name, role in (("tech", "technician"), ("disc", "disclosure_officer")):
        added = subprocess.run([sys.executable, "-m", "api", "user", "add", name, "--role", role,
                                "--password-stdin"], input=PASSWORD, text=True, env=env,
                               cwd=REPO, capture_output=True, timeout=120)  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert custos(env, "user", "grant", name, "--case", CASE).rc == 0
    clips = [make_clip(tmp_path / f"clip{i}.mp4", seconds=1.0, tone=500 + 50 * i).read_bytes()
             for i in range(3)]  # fmt: skip
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "api", "serve", "--port", str(port)],
                                  env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # fmt: skip
    tally = Tally()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "serve did not start"
            time.sleep(0.2)
        tokens = {}
        for name in ("tech", "disc"):
            answer = httpx.post(f"{base}/api/auth/token",
                                data={"username": name, "password": PASSWORD})  # fmt: skip
            assert answer.status_code == 200, answer.text
            tokens[name] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        # One original to read ranges of while the load runs.
        original = os.urandom(4 * 1024 * 1024)
        with httpx.Client(timeout=60) as client:
            _upload(client, base, tokens["tech"], original, "seed.bin", tally)
            (seed_url,) = tally.completed
            seed = _settled(client, seed_url, tokens["tech"], time.monotonic() + 60)
        assert seed["state"] == "ingested", seed
        seed_id = seed["receipt_entry"]["recording_id"]
        tally.completed.clear()
        tally.latencies.clear()

        stop = time.monotonic() + LOAD_S
        counter = iter(range(10**9))

        def uploader(worker: int) -> None:
            with httpx.Client(timeout=60) as client:
                while time.monotonic() < stop:
                    n = next(counter)
                    if n % 10 == 0:  # now and then a real recording, which workers normalise
                        data = clips[n // 10 % len(clips)] + os.urandom(16)  # unique bytes
                        name = f"BWC{worker:04d}_20261103_1415{n % 60:02d}_{n:04d}.mp4"
                    else:
                        data = os.urandom(random.randint(16, 256) * 1024)
                        name = f"note-{worker}-{n}.bin"
                    _upload(client, base, tokens["tech"], data, name, tally)

        def reader() -> None:
            url = f"{base}/api/recordings/{seed_id}/media/original"
            rng = random.Random()
            with httpx.Client(timeout=60) as client:
                while time.monotonic() < stop:
                    start = rng.randrange(len(original))
                    end = min(len(original), start + rng.randint(1, 512 * 1024)) - 1
                    got = _timed(tally, "range get", lambda s=start, e=end: client.get(
                        url, headers={**tokens["disc"], "Range": f"bytes={s}-{e}"}))  # fmt: skip
                    if got is None:
                        continue
                    if got.status_code != 206 or got.content != original[start : end + 1]:
                        tally.error(f"range {start}-{end}: {got.status_code}, "
                                    f"{len(got.content)} bytes")  # fmt: skip

        threads = [threading.Thread(target=uploader, args=(i,)) for i in range(UPLOADERS)]
        threads += [threading.Thread(target=reader) for _ in range(READERS)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(LOAD_S + 120)
        elapsed = time.monotonic() - began

        # Every completed upload must end ingested with the digest of the bytes sent.
        lost: list[str] = []
        settle = time.monotonic() + 120
        with httpx.Client(timeout=60) as client:
            for url, digest in tally.completed.items():
                body = _settled(client, url, tokens["tech"], settle)
                entry = body.get("receipt_entry") or {}
                if body["state"] != "ingested" or entry.get("sha256") != digest:
                    lost.append(f"{url}: {body['state']} {entry.get('sha256')}")
        requests = sum(len(v) for v in tally.latencies.values())
        lines = [f"figures: load {elapsed:.1f} s, {UPLOADERS} uploaders + {READERS} range "
                 f"readers: {requests} requests, {requests / elapsed:.1f} req/s, "
                 f"{len(tally.completed)} uploads ({len(tally.completed) / elapsed:.1f}/s), "
                 f"errors {len(tally.errors)}, lost {len(lost)}"]  # fmt: skip
        for kind, values in sorted(tally.latencies.items()):
            lines.append(f"figures:   {kind}: n={len(values)} p50={_pct(values, 0.5) * 1000:.0f} "
                         f"ms p99={_pct(values, 0.99) * 1000:.0f} ms")  # fmt: skip
        print("\n".join(lines))
        assert tally.errors == [], tally.errors[:10]
        assert lost == [], lost[:10]
        assert len(tally.completed) >= UPLOADERS  # the load really ran
        assert len(tally.latencies.get("range get", [])) >= READERS
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
    after = check_aftermath(env)
    assert after.jobs and all(j["status"] == "done" for j in after.jobs), after.jobs
    assert after.fixity_checked == len(tally.completed) + 1
