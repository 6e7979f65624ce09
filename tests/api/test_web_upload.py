"""The upload and jobs pages in real headless Chromium (Playwright) against the real app
under uvicorn: a technician uploads a folder (two tiny real MP4 clips, a byte-identical copy
of one, and 8 MB of random bytes) over tus, pauses in the middle of the big file and resumes
from the server's offset, sees each file's receipt status and downloads the batch receipt;
the jobs page follows the uploaded recordings' jobs over server-sent events as they run,
fail (with their reason) and finish; a reviewer gets the 404 page for /upload. Both pages
are checked at 1366x768 and at 390 px wide. Screenshots go under the test's temp folder."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from api.routes import job_events
from api.services.uploads import METADATA_KEYS
from api.services.users import add_user, grant
from cases.tables import Case
from ingest.acquire import CaptureMeta, ingest
from storage.db.schema import Recording
from storage.services import Services
from tests.api.http_world import PASSWORD, World, build_world, open_services
from tests.api.live_server import log_in, serving
from tests.needs import unavailable
from workers import jobs

CASE = "UP-1"
CHUNK = 256 * 1024  # small tus chunks, so a pause lands in the middle of the big file
BIG = 8 * 1024 * 1024
FINAL = ("stored", "duplicate", "unplayable", "not-media", "changed-during-read", "unreadable",
         "error", "failed")  # fmt: skip


@dataclass
class Site:
    svc: Services
    url: str
    dump: Path  # the folder the technician uploads
    shots: Path


def _clip(path: Path, pattern: str, freq: int) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        unavailable("ffmpeg is not installed")
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i",
         f"{pattern}=duration=1:size=160x120:rate=10", "-f", "lavfi", "-i",
         f"sine=frequency={freq}:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(path)],
        check=True, timeout=60,
    )  # fmt: skip


def _dump(root: Path) -> Path:
    folder = root / "dump"
    folder.mkdir()
    _clip(folder / "a.mp4", "testsrc", 440)
    _clip(folder / "b.mp4", "testsrc2", 880)
    shutil.copyfile(folder / "a.mp4", folder / "copy-of-a.mp4")
    (folder / "big.bin").write_bytes(os.urandom(BIG))
    return folder


def _add_case(svc: Services, case_no: str) -> None:
    now = datetime.now(UTC)
    svc.db.run(lambda s: s.add(Case(case_no=case_no, title="uploads", opened_at=now - timedelta(
        days=1), created_at=now, created_by="tester")))  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("webupload")
    dump = _dump(root)
    svc = open_services(root / "data")
    try:
        for no in (CASE, "UP-2"):
            _add_case(svc, no)
        add_user(svc, "tech", "technician", PASSWORD)
        grant(svc, "tech", CASE)
        add_user(svc, "rev", "reviewer", PASSWORD)
        grant(svc, "rev", CASE)
        with serving(svc) as url:
            yield Site(svc, url, dump, root / "shots")
    finally:
        svc.close()


def _login(browser: Any, site: Site, name: str, **context: Any) -> Any:
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True,
                              **context)  # fmt: skip
    page = ctx.new_page()
    return log_in(page, site.url, name, PASSWORD)


def _shot(page: Any, site: Site, name: str) -> None:
    site.shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(site.shots / f"{name}.png"), full_page=True)


def _narrow(page: Any, site: Site, name: str) -> None:
    """At 390 px wide the page body must not scroll sideways."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(100)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{name}: the page is {width} px wide at 390"
    _shot(page, site, f"{name}-390")
    page.set_viewport_size({"width": 1366, "height": 768})


def _row(path: str) -> str:
    return f'.file-row[data-path="dump/{path}"]'


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_technician_uploads_a_folder_pauses_resumes_and_gets_the_receipt(
    browser: Any, site: Site
) -> None:
    page = _login(browser, site, "tech")
    page.add_init_script(f"window.CUSTOS_TUS_CHUNK = {CHUNK}")
    # Slow the upload to about 4 MB/s so the pause lands mid-file.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
             "downloadThroughput": -1, "uploadThroughput": 4_000_000})  # fmt: skip
    patches: list[tuple[str, int]] = []
    page.on("request", lambda r: patches.append((r.url, int(r.headers["upload-offset"])))
            if r.method == "PATCH" else None)  # fmt: skip
    page.click("#nav-upload")
    page.wait_for_url(f"{site.url}/upload")
    assert page.locator("#up-case").input_value() == CASE  # the only case: chosen already
    page.fill("#up-collector", "Officer Wang")
    page.fill("#up-proves", "the inspection")
    page.select_option("#up-device-kind", "body_cam")
    _shot(page, site, "upload-empty")
    _narrow(page, site, "upload-empty")

    page.set_input_files("#folder-input", str(site.dump))
    rows = page.locator(".file-row")
    rows.first.wait_for()
    assert sorted(rows.evaluate_all("els => els.map(e => e.dataset.path)")) == [
        "dump/a.mp4", "dump/b.mp4", "dump/big.bin", "dump/copy-of-a.mp4"]  # fmt: skip

    big = _row("big.bin")
    page.wait_for_function(f"document.querySelector('{big} progress').value > 0.15",
                           timeout=30_000)  # fmt: skip
    page.click("#pause-toggle")
    page.wait_for_selector(f'{big}[data-state="paused"]')
    page.wait_for_timeout(800)  # the aborted PATCH is finished on the server
    url = page.locator(big).get_attribute("data-upload")
    assert url, "the big file's upload has no URL"

    def offset() -> int:
        head = page.request.head(url, headers={"Tus-Resumable": "1.0.0"})
        assert head.status == 200, head.status
        return int(head.headers["upload-offset"])

    paused_at = offset()
    assert 0 < paused_at < BIG, paused_at
    page.wait_for_timeout(700)
    assert offset() == paused_at  # paused means nothing more is sent
    assert page.locator("#pause-toggle").inner_text() == "Resume"
    _shot(page, site, "upload-paused")
    _narrow(page, site, "upload-paused")
    before = len(patches)

    page.click("#pause-toggle")
    final = ",".join(f'[data-state="{s}"]' for s in FINAL)
    page.wait_for_function(
        f"document.querySelectorAll('.file-row:is({final})').length === 4", timeout=60_000
    )
    # the first PATCH after resuming starts at the server's offset, not at 0
    resumed = [o for u, o in patches[before:] if u == url]
    assert resumed and resumed[0] == paused_at, (paused_at, resumed[:3])
    assert all(b > a for a, b in zip(resumed, resumed[1:], strict=False))

    states = {p: page.locator(_row(p)).get_attribute("data-state")
              for p in ("a.mp4", "b.mp4", "copy-of-a.mp4", "big.bin")}  # fmt: skip
    assert states["b.mp4"] == "stored", states
    assert {states["a.mp4"], states["copy-of-a.mp4"]} == {"stored", "duplicate"}, states
    assert states["big.bin"] == "not-media", states
    badge = page.locator(f"{_row('big.bin')} .badge").inner_text()
    assert badge == "not media"
    # the stored bytes are the file's bytes: resuming neither skipped nor repeated any
    assert page.locator(big).get_attribute("data-sha256") == _sha256(site.dump / "big.bin")
    assert page.locator("#total-progress").evaluate("e => e.value") == 1
    _shot(page, site, "upload-done")
    _narrow(page, site, "upload-done")

    with page.expect_download() as got:
        page.click(".batch .receipt-csv")
    text = Path(got.value.path()).read_text(encoding="utf-8")
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 4, text
    by_name = {Path(r["path"]).name: r for r in table}
    assert set(by_name) == {"a.mp4", "b.mp4", "copy-of-a.mp4", "big.bin"}, text
    for name in by_name:
        assert by_name[name]["sha256"] == _sha256(site.dump / name), name
        assert by_name[name]["status"] == states[name], name
    meta = page.request.get(url).json()["metadata"]
    batch = page.locator(".batch").get_attribute("data-batch")
    assert meta["batch"] == batch and meta["case"] == CASE, meta
    assert meta["collector"] == "Officer Wang" and meta["device_kind"] == "body_cam", meta
    if "relative_path" in METADATA_KEYS:  # the page sends what the server accepts
        assert meta["relative_path"] == "dump/big.bin", meta
    json_link = page.locator(".batch .receipt-json").get_attribute("href")
    receipt = page.request.get(f"{site.url}{json_link}").json()
    assert receipt["counts"]["stored"] == 2 and receipt["counts"]["duplicate"] == 1
    page.context.close()


def _case_recordings(site: Site) -> list[str]:
    """The case's recordings: the upload test's, or (run alone) the clips ingested here."""
    query = select(Recording.id).where(Recording.case_no == CASE).order_by(Recording.id)
    with site.svc.db.session() as session:
        found = list(session.scalars(query))
    if not found:
        clips = [site.dump / "a.mp4", site.dump / "b.mp4"]
        ingest(site.svc, clips, CaptureMeta(case_no=CASE))
        with site.svc.db.session() as session:
            found = list(session.scalars(query))
    return found


def _new_job(svc: Services, recording_id: str, stage: str) -> str:
    def work(session: Any) -> str:
        rec = session.get(Recording, recording_id)
        job, _ = jobs.ensure_job(session, rec, stage, "cpu", {"test": stage})
        return str(job.id)

    return svc.db.run(work)


def _job(page: Any, job_id: str) -> str:
    return f'.job[data-job="{job_id}"]'


def test_the_jobs_page_follows_jobs_over_server_sent_events(browser: Any, site: Site) -> None:
    recs = _case_recordings(site)
    assert len(recs) >= 2, recs
    svc = site.svc
    first = _new_job(svc, recs[0], "normalise")
    second = _new_job(svc, recs[1], "normalise")
    page = _login(browser, site, "tech")
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if "/api/jobs/events" in r.url else None)
    page.click("#nav-jobs")
    page.wait_for_url(f"{site.url}/jobs")
    page.wait_for_selector(f'{_job(page, first)}[data-status="queued"]')
    page.wait_for_selector(f'{_job(page, second)}[data-status="queued"]')
    assert page.locator(f"{_job(page, first)} .badge").inner_text() == "queued"

    # the page is not reloaded from here on: every change arrives over the open stream
    assert jobs.claim(svc, first, "test-worker") is jobs.Claim.CLAIMED
    assert jobs.heartbeat(svc, first, "test-worker", progress=0.5)
    page.wait_for_function(
        f"document.querySelector('{_job(page, first)} progress').value === 0.5", timeout=10_000
    )
    assert page.locator(_job(page, first)).get_attribute("data-status") == "running"
    assert jobs.claim(svc, second, "test-worker") is jobs.Claim.CLAIMED
    reason = "ffmpeg exited 1: moov atom not found"
    jobs.fail(svc, second, "test-worker", reason, final=True)
    page.wait_for_selector(f'{_job(page, second)}[data-status="failed"]', timeout=10_000)
    assert reason in page.locator(f"{_job(page, second)} .error-text").inner_text()
    _shot(page, site, "jobs-running")
    _narrow(page, site, "jobs-running")

    jobs.finish(svc, first, "test-worker", {})
    page.wait_for_selector(f'{_job(page, first)}[data-status="done"]', timeout=10_000)
    assert page.locator(f"{_job(page, first)} progress").evaluate("e => e.value") == 1
    # nothing is moving now: the server ends the stream and EventSource comes back by
    # itself; a job queued after that still shows up
    third = _new_job(svc, recs[0], "transcribe")
    page.wait_for_selector(f'{_job(page, third)}[data-status="queued"]', timeout=15_000)
    assert len(streams) >= 2, streams
    assert page.locator(".job").count() >= 3
    _shot(page, site, "jobs-done")
    page.context.close()


def test_a_reviewer_gets_404_for_the_upload_page_but_sees_jobs(browser: Any, site: Site) -> None:
    page = _login(browser, site, "rev")
    assert page.locator("#nav-upload").count() == 0
    assert page.locator("#nav-jobs").is_visible()
    response = page.goto(f"{site.url}/upload")
    assert response.status == 404
    assert page.locator("#not-found").is_visible()
    assert page.locator("#folder-input").count() == 0
    _shot(page, site, "reviewer-upload-404")
    response = page.goto(f"{site.url}/jobs")
    assert response.status == 200
    page.context.close()


def test_pages_need_a_session(browser: Any, site: Site) -> None:
    page = browser.new_context().new_page()
    for path in ("/upload", "/jobs"):
        page.goto(f"{site.url}{path}")
        page.wait_for_url(f"{site.url}/login?next={path}")
    assert page.request.get(f"{site.url}/api/jobs/events?once=true").status == 401
    page.context.close()


def test_a_folder_dropped_on_the_zone_is_walked_and_uploaded_as_one_batch(
    browser: Any, site: Site
) -> None:
    """A real drag of a folder with a subfolder (Chromium's own drag pipeline, driven over
    CDP, so the page gets directory entries to walk, as from the desktop)."""
    folder = site.dump.parent / "drop"
    (folder / "sub").mkdir(parents=True)
    _clip(folder / "c.mp4", "smptebars", 660)  # a clip no other test stores
    shutil.copyfile(folder / "c.mp4", folder / "sub" / "x-c-again.mp4")
    (folder / "notes.txt").write_text("just some notes", encoding="utf-8")
    page = _login(browser, site, "tech")
    page.goto(f"{site.url}/upload")
    box = page.locator("#drop-zone").bounding_box()
    at = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
    data = {"items": [], "files": [str(folder)], "dragOperationsMask": 1}
    cdp = page.context.new_cdp_session(page)
    for kind in ("dragEnter", "dragOver", "drop"):
        cdp.send("Input.dispatchDragEvent", {"type": kind, **at, "data": data})
    final = ",".join(f'[data-state="{s}"]' for s in FINAL)
    page.wait_for_function(
        f"document.querySelectorAll('.file-row:is({final})').length === 3", timeout=30_000
    )
    paths = ("drop/c.mp4", "drop/notes.txt", "drop/sub/x-c-again.mp4")
    states = {p: page.locator(f'.file-row[data-path="{p}"]').get_attribute("data-state")
              for p in paths}  # fmt: skip
    assert {states[paths[0]], states[paths[2]]} == {"stored", "duplicate"}, states
    assert states["drop/notes.txt"] == "not-media", states
    assert page.locator(".batch").count() == 1
    page.context.close()


def test_the_upload_page_offers_only_writable_cases_and_speaks_chinese(
    browser: Any, site: Site
) -> None:
    page = _login(browser, site, "tech", locale="zh-CN")
    page.goto(f"{site.url}/upload")
    assert page.locator("#page-title").inner_text() == "上传音视频"
    options = page.locator("#up-case option").evaluate_all("os => os.map(o => o.value)")
    assert options == [CASE]  # not UP-2, which exists but is not granted to tech
    page.click("#nav-jobs")
    page.wait_for_url(f"{site.url}/jobs")
    assert page.locator("#page-title").inner_text().startswith("处理任务")
    page.context.close()


# Without a browser: the event stream itself, over the TestClient world of the API tests.


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    svc = open_services(tmp_path_factory.mktemp("jobevents") / "data")
    try:
        yield from build_world(svc)
    finally:
        svc.close()


def _events(text: str) -> list[list[dict[str, Any]]]:
    out = []
    for block in text.split("\n\n"):
        lines = block.split("\n")
        if "event: jobs" in lines:
            (data,) = [x.removeprefix("data: ") for x in lines if x.startswith("data: ")]
            out.append(json.loads(data))
    return out


def test_the_event_stream_sends_only_visible_jobs_and_ends_when_nothing_moves(
    world: World,
) -> None:
    own = _new_job(world.svc, world.own_rec, "normalise")
    other = _new_job(world.svc, world.other_rec, "normalise")
    for who, want in (("reviewer", {own}), ("outsider", {other}), ("auditor", {own, other})):
        r = world.client.get("/api/jobs/events", params={"once": "true"},
                             headers=world.auth(who))  # fmt: skip
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert r.text.startswith("retry: ")
        (sent,) = _events(r.text)
        assert {j["id"] for j in sent} == want, who
    for job in (own, other):
        assert jobs.claim(world.svc, job, "w") is jobs.Claim.CLAIMED
        jobs.finish(world.svc, job, "w", {})
    started = time.monotonic()
    r = world.client.get("/api/jobs/events", headers=world.auth("reviewer"))  # not `once`
    assert time.monotonic() - started < 5  # nothing is moving: one snapshot, then the end
    (sent,) = _events(r.text)
    assert sent and all(j["status"] == "done" for j in sent), sent


def test_a_moving_job_keeps_the_stream_open_until_its_bound(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_events, "STREAM_SECONDS", 1.5)
    monkeypatch.setattr(job_events, "TICK_SECONDS", 0.1)
    monkeypatch.setattr(job_events, "HEARTBEAT_SECONDS", 0.3)
    job = _new_job(world.svc, world.own_rec, "transcribe")
    assert jobs.claim(world.svc, job, "w") is jobs.Claim.CLAIMED
    started = time.monotonic()
    r = world.client.get("/api/jobs/events", headers=world.auth("reviewer"))
    took = time.monotonic() - started
    assert 1.4 <= took < 6, took
    assert r.text.count(": heartbeat\n\n") >= 2  # nothing changed: comments keep it alive
    assert len(_events(r.text)) == 1  # an unchanged list is not sent again
    jobs.finish(world.svc, job, "w", {})


def test_the_event_stream_needs_a_caller(world: World) -> None:
    assert world.client.get("/api/jobs/events?once=true").status_code == 401
