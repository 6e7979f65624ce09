"""The review, redaction and audit screens in real headless Chromium (Playwright) against
the real app under uvicorn, over a talking-face clip that was really ingested,
normalised, transcribed and detected:

- a disclosure officer opens the redaction screen, sees the tracked face with its
  thumbnail, draws a region on a frame with the mouse, mutes words of the transcript,
  saves with a reason, renders, steps through and acknowledges the findings, exports,
  downloads the package and it verifies offline;
- a reviewer uses bookmarks and the thumbnail sprite while scrubbing, searches the case,
  sees the time axis; a case that requires a reason asks for one first, and the reason
  rides on every access event;
- the auditor reads who watched which range of which recording, filters, downloads CSV;
- pages hold at 1366x768 and at 390 px wide. Each step saves a screenshot.
"""

from __future__ import annotations

import csv
import io
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.services import cases as case_service
from api.services.access import access_events
from api.services.users import add_user, grant
from cases.tables import Case, Step
from disclosure.package import verify_package
from ingest.acquire import CaptureMeta, IngestCallbacks, ingest
from ingest.normalise import NormaliseParams, run_normalise
from models.speech.transcribe import Segment, Transcript, Word
from models.speech.transcripts import replace_transcripts
from models.vision.detect_stage import DetectParams, run_detect
from storage.db.schema import Recording
from storage.ledger_keys import load_keys
from storage.services import Services
from tests.api.http_world import PASSWORD, open_services
from tests.api.live_server import log_in, serving
from tests.needs import unavailable

CASE = "REV-1"
GRID = Path(__file__).resolve().parents[3] / "shared" / "media" / "av" / "grid_bbaf2n.mpg"
WORDS = ["my", "number", "is", "one", "three", "eight", "zero", "zero"]

pytestmark = pytest.mark.media


@dataclass
class Site:
    svc: Services
    url: str
    rec: str
    shots: Path


def _prepare(svc: Services, work: Path) -> str:
    if not GRID.exists():
        unavailable(f"shared media not present: {GRID}")
    clip = work / "interview.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(GRID), "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=16000", "-map", "0:v", "-map", "1:a",
                    "-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                    str(clip)], check=True, timeout=120)  # fmt: skip
    ids: list[str] = []
    ingest(svc, [clip], CaptureMeta(case_no=CASE, device_kind="interview_room"),
           IngestCallbacks(on_new_recording=ids.append))  # fmt: skip
    rec = ids[0]
    run_normalise(svc, rec, NormaliseParams.from_settings(svc.settings), lambda _: None)
    run_detect(svc, rec, DetectParams(), lambda _: None)
    # A transcript with words at known times (the clip's speech is a tone): the mute
    # picker and the case search work on it like on any transcript.
    words = [Word(0.2 + 0.3 * i, 0.45 + 0.3 * i, f" {w}", 0.9) for i, w in enumerate(WORDS)]
    seg = Segment(start=0.2, end=2.6, text=" " + " ".join(WORDS), language="en",
                  language_probability=1.0, avg_logprob=-0.2, no_speech_prob=0.0,
                  compression_ratio=1.0, confidence=0.9, speech_ratio=1.0, words=words)  # fmt: skip
    svc.db.run(lambda s: replace_transcripts(s, rec, "w" * 64, [Transcript(
        recording_id=rec, stream_index=0, stream_label="audio 1", status="done",
        language="en", segments=[seg])]))  # fmt: skip
    now = datetime.now(UTC)

    def case(session: Any) -> None:
        session.add(Case(case_no=CASE, title="interview", opened_at=now - timedelta(days=1),
                         created_at=now, created_by="tester"))  # fmt: skip
        session.flush()
        row = session.query(Case).filter_by(case_no=CASE).one()
        found = session.get(Recording, rec)
        found.capture_start = now - timedelta(minutes=50)  # inside the step: on the time axis
        session.add(Step(case_id=row.id, key="S1", kind="investigation", title="interview",
                         start_at=now - timedelta(hours=1), end_at=now - timedelta(minutes=30),
                         officers=[], devices=[]))  # fmt: skip

    svc.db.run(case)
    for name, role in (("officer", "disclosure_officer"), ("reviewer", "reviewer"),
                       ("auditor", "auditor")):  # fmt: skip
        add_user(svc, name, role, PASSWORD)
        if role != "auditor":
            grant(svc, name, CASE)
    return rec


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("webreview")
    svc = open_services(root / "data")
    try:
        rec = _prepare(svc, root)
        with serving(svc) as url:
            yield Site(svc, url, rec, root / "shots")
    finally:
        svc.close()


def _login(browser: Any, site: Site, name: str, width: int = 1366, height: int = 768) -> Any:
    page = browser.new_context(viewport={"width": width, "height": height},
                               accept_downloads=True).new_page()  # fmt: skip
    return log_in(page, site.url, name, PASSWORD)


def _shot(page: Any, site: Site, name: str) -> None:
    site.shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(site.shots / f"{name}.png"), full_page=True)


def _no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
        " > document.documentElement.clientWidth + 1).slice(0, 5).map(e => e.tagName + '#' +"
        " e.id + '.' + e.className)"
    )
    assert width <= page.viewport_size["width"], (page.url, width, wide)


def test_a_disclosure_officer_redacts_renders_acknowledges_and_exports(
    browser: Any, site: Site, tmp_path: Path
) -> None:
    page = _login(browser, site, "officer")
    page.goto(f"{site.url}/cases/{CASE}")
    page.click(".redact-link")
    page.wait_for_url(f"{site.url}/recordings/{site.rec}/redact")
    page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=20_000)
    # No plan yet: make the default one (faces redacted).
    page.click("#make-plan")
    page.wait_for_selector("#tracks li[data-track]", timeout=15_000)
    face = page.locator("#tracks li[data-track]").first
    page.wait_for_function(
        "(() => { const i = document.querySelector('#tracks li img');"
        " return i && i.complete && i.naturalWidth > 0; })()", timeout=10_000)  # fmt: skip
    assert not face.locator(".keep").is_checked()  # redacted by default

    # Draw a region with the mouse on a paused frame.
    page.evaluate("document.getElementById('player').currentTime = 1.0")
    page.wait_for_function("!document.getElementById('player').seeking", timeout=10_000)
    page.click("#draw")
    box = page.locator("#overlay").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.1)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.25, steps=5)
    page.mouse.up()
    assert page.locator("#regions li").count() == 1

    # Mute "one three eight" picked from the transcript words.
    page.click("#words-box summary")
    words = page.locator("#mute-words .word")
    words.nth(3).click()
    words.nth(5).click(modifiers=["Shift"])
    assert page.locator("#mute-words .word.picked").count() == 3
    page.click("#mute-selection")
    page.fill("#plan-reason", "badge on the wall; spoken number")
    page.click("#save-plan")
    page.wait_for_function("document.getElementById('plan-version').textContent.includes('2')",
                           timeout=10_000)  # fmt: skip
    _shot(page, site, "redact-plan")

    with site.svc.db.session() as session:
        from disclosure.plan import current

        saved = current(session, site.rec)
    assert saved is not None and saved.version == 2 and saved.author == "officer"
    [region] = saved.plan.regions
    width = page.evaluate("+document.getElementById('redact').dataset.width")
    x1, y1, x2, y2 = region.keyframes[0][1:]
    assert region.keyframes[0][0] == pytest.approx(1.0, abs=0.05)
    assert 0 <= x1 < x2 and 0 <= y1 < y2 and (not width or x2 <= width)
    manual = [m for m in saved.plan.mutes if m.source == "manual"]
    assert len(manual) == 1 and manual[0].text.split() == ["one", "three", "eight"]
    assert manual[0].start == pytest.approx(0.2 + 0.3 * 3) and manual[0].end == pytest.approx(
        0.45 + 0.3 * 5
    )

    # Render and check; step through each finding; acknowledge the open ones.
    page.click("#render")
    page.wait_for_function("document.getElementById('no-render').hidden", timeout=120_000)
    assert "possible exposures" in page.locator("#status").inner_text() or (
        "no exposed face" in page.locator("#status").inner_text()
    )
    for item in page.locator("#findings li").all():
        item.locator(".show").click()
        t0 = page.evaluate("document.getElementById('player').currentTime")
        item.locator(".next").click()
        t1 = page.evaluate("document.getElementById('player').currentTime")
        assert t1 > t0
        if item.locator(".ack").count():
            item.locator(".ack-reason").fill("the officer's own face, consented")
            item.locator(".ack").click()
            page.wait_for_timeout(300)
    page.wait_for_function("!document.querySelector('#findings .ack')", timeout=20_000)
    page.check("#view-redacted")
    page.wait_for_function(
        "document.getElementById('player').src.includes('/renders/latest/media')"
    )
    page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=20_000)
    _shot(page, site, "redact-rendered")

    page.select_option("#purpose", "court")
    page.fill("#recipient", "Court of First Instance")
    page.click("#export")
    page.wait_for_selector("#package-link", timeout=120_000)
    with page.expect_download() as download:
        page.click("#package-link")
    package = tmp_path / "package.zip"
    download.value.save_as(package)
    verifier = load_keys(site.svc.settings).verifier
    assert verifier is not None
    result = verify_package(package, verifier)
    assert result.ok, result.problems
    _shot(page, site, "redact-exported")


def test_a_reviewer_bookmarks_scrubs_searches_and_sees_the_time_axis(
    browser: Any, site: Site
) -> None:
    page = _login(browser, site, "reviewer")
    page.goto(f"{site.url}/cases/{CASE}")
    assert page.locator("#timeline .bar").count() == 1
    page.fill("#case-q", "three eight")
    page.click("#case-search-go")
    page.wait_for_selector("#case-hits .case-hit", timeout=10_000)
    _shot(page, site, "case-search")
    page.click("#case-hits .case-hit a")
    page.wait_for_url(f"{site.url}/recordings/{site.rec}?t=*")
    page.wait_for_function("document.getElementById('player').currentTime > 0.5", timeout=20_000)

    # The sprite's tile follows the pointer over the scrub bar.
    bar = page.locator("#scrub").bounding_box()
    page.wait_for_function("document.getElementById('scrub-wrap').classList.contains('has-sprite')",
                           timeout=10_000)  # fmt: skip
    page.mouse.move(bar["x"] + 5, bar["y"] + bar["height"] / 2)
    first = page.locator("#scrub-preview").get_attribute("data-tile")
    page.mouse.move(bar["x"] + bar["width"] - 5, bar["y"] + bar["height"] / 2)
    last = page.locator("#scrub-preview").get_attribute("data-tile")
    assert page.locator("#scrub-preview").is_visible() and first and last and first != last
    _shot(page, site, "clip-scrub")

    page.evaluate("document.getElementById('player').currentTime = 1.5")
    page.fill("#bookmark-note", "读出扣押清单")
    page.click("#bookmark-add")
    page.wait_for_selector("#bookmark-list .bookmark")
    assert "读出扣押清单" in page.locator("#bookmark-list").inner_text()
    assert float(
        page.locator("#bookmark-list .bookmark").get_attribute("data-at")
    ) == pytest.approx(1.5, abs=0.1)
    page.reload()
    page.wait_for_selector("#bookmark-list .bookmark")
    _shot(page, site, "clip-bookmark")

    narrow = _login(browser, site, "reviewer", width=390, height=844)
    for path in (f"/cases/{CASE}", f"/recordings/{site.rec}", f"/recordings/{site.rec}/redact"):
        narrow.goto(site.url + path)
        _no_sideways_scroll(narrow)
        _shot(narrow, site, "narrow" + path.replace("/", "-"))


def test_a_case_requiring_a_reason_asks_first_and_the_auditor_sees_it(
    browser: Any, site: Site
) -> None:
    flagged_at = max((e.seq for e in access_events(site.svc)), default=0)
    case_service.set_reason_required(site.svc, CASE, on=True)
    try:
        page = _login(browser, site, "reviewer")
        page.goto(f"{site.url}/recordings/{site.rec}")
        assert page.locator("#reason-prompt").is_visible()
        assert page.locator("#player").count() == 0
        _shot(page, site, "reason-prompt")
        page.fill("#reason", "法制审核：复核询问笔录")
        page.click("#reason-submit")
        page.wait_for_function("document.getElementById('player')?.readyState >= 1",
                               timeout=20_000)  # fmt: skip
        page.evaluate("(() => { const p = document.getElementById('player'); p.muted = true;"
                      " return p.play(); })()")  # fmt: skip
        page.wait_for_timeout(1200)
        page.evaluate("document.getElementById('player').pause()")
    finally:
        case_service.set_reason_required(site.svc, CASE, on=False)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = access_events(site.svc, recording=site.rec, user="reviewer")
        if any(e.action == "access.played" and e.details.get("reason") for e in events):
            break
        time.sleep(0.2)
    # Every retrieval since the flag went on carries the reason (the player's media
    # requests and the played ranges alike); none went without it.
    since = [e for e in events if e.seq > flagged_at]
    by_action: dict[str, set[object]] = {}
    for e in since:
        by_action.setdefault(e.action, set()).add(e.details.get("reason"))
    why = "法制审核：复核询问笔录"
    assert by_action.get("access.media.mezzanine") == {why}, by_action
    assert by_action.get("access.played") == {why}, by_action

    auditor = _login(browser, site, "auditor")
    auditor.click("#nav-audit")
    auditor.wait_for_url(f"{site.url}/audit")
    assert auditor.locator("#ledger-state").get_attribute("data-ok") == "true"
    auditor.fill("#f-user", "reviewer")
    auditor.fill("#f-recording", site.rec)
    auditor.click("#f-go")
    rows = auditor.locator("#access-log .access-row")
    assert rows.count() > 0
    actions = set(rows.evaluate_all("rs => rs.map(r => r.dataset.action)"))
    assert {"played", "media.mezzanine"} <= actions, actions
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.user)")) == {"reviewer"}
    assert "法制审核" in auditor.locator("#access-log").inner_text()
    _shot(auditor, site, "audit")
    with auditor.expect_download() as download:
        auditor.click("#audit-csv")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    table = list(csv.DictReader(io.StringIO(text)))
    assert table and {r["user"] for r in table} == {"reviewer"}
    assert any(r["action"] == "played" and r["range"].startswith("seconds=") for r in table)

    # The reviewer has no audit screen.
    page = _login(browser, site, "reviewer")
    assert page.goto(f"{site.url}/audit").status == 404
