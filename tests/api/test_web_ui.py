"""The web UI in real headless Chromium (Playwright) against the real app under uvicorn, over
a recording that was really ingested, normalised and transcribed: login (and a wrong
password), the case page's lights, the clip view (words with times, click to seek, the
highlight follows playback, played ranges ledgered), 404 for a user without the case, and
the Chinese switch. Each step saves a screenshot under the test's temporary folder."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.services.access import access_events
from api.services.sessions import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, start_session
from api.services.users import add_user, grant
from cases.tables import Case, Step
from ingest.acquire import CaptureMeta, IngestCallbacks, ingest
from ingest.normalise import NormaliseParams, run_normalise
from models.speech.transcribe import Segment, Transcript, UntranscribedSpan, Word
from models.speech.transcribe_stage import TranscribeParams, run_transcribe
from models.speech.transcripts import replace_transcripts
from storage.services import Services
from tests.api.http_world import PASSWORD, World, build_world, open_services
from tests.api.live_server import log_in, serving
from tests.needs import unavailable

CASE, OTHER = "WEB-1", "WEB-2"
GRID = Path(__file__).resolve().parents[3] / "shared" / "media" / "av" / "grid_bbaf2n.mpg"


@dataclass
class Site:
    svc: Services
    url: str
    rec: str
    shots: Path


def _prepare(svc: Services) -> str:
    if not GRID.exists():
        unavailable(f"shared media not present: {GRID}")
    now = datetime.now(UTC)
    ids: list[str] = []
    ingest(svc, [GRID], CaptureMeta(case_no=CASE), IngestCallbacks(on_new_recording=ids.append))
    assert len(ids) == 1
    run_normalise(svc, ids[0], NormaliseParams.from_settings(svc.settings), lambda _: None)
    run_transcribe(svc, ids[0], TranscribeParams(), lambda _: None)

    def cases(session: Any) -> None:
        for no in (CASE, OTHER):
            session.add(Case(case_no=no, title=f"title {no}", opened_at=now - timedelta(days=1),
                             created_at=now, created_by="tester"))  # fmt: skip
        session.flush()
        case = session.query(Case).filter_by(case_no=CASE).one()
        session.add(Step(case_id=case.id, key="S1", kind="on_site_inspection",
                         title="inspection", start_at=now - timedelta(hours=2),
                         end_at=now - timedelta(hours=1), officers=[], devices=[]))  # fmt: skip

    svc.db.run(cases)
    add_user(svc, "reviewer", "reviewer", PASSWORD)
    grant(svc, "reviewer", CASE)
    add_user(svc, "outsider", "reviewer", PASSWORD)
    grant(svc, "outsider", OTHER)
    return ids[0]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("webui")
    svc = open_services(root / "data")
    try:
        rec = _prepare(svc)
        with serving(svc) as url:
            yield Site(svc, url, rec, root / "shots")
    finally:
        svc.close()


def _login(browser: Any, site: Site, name: str, **context: Any) -> Any:
    page = browser.new_context(viewport={"width": 1366, "height": 768}, **context).new_page()
    return log_in(page, site.url, name, PASSWORD)


def _shot(page: Any, site: Site, name: str) -> None:
    site.shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(site.shots / f"{name}.png"))


def test_login_refuses_a_wrong_password_then_lists_the_users_cases(
    browser: Any, site: Site
) -> None:
    page = browser.new_context().new_page()
    page.goto(f"{site.url}/cases")
    page.wait_for_url(f"{site.url}/login?next=/cases")
    page.fill("#username", "reviewer")
    page.fill("#password", "not the password")
    page.click("#login-submit")
    assert page.locator("#login-error").is_visible()
    _shot(page, site, "login-error")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{site.url}/cases")
    links = page.locator(".case-link").all_inner_texts()
    assert links == [CASE]  # not the other case
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["custos_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    page.click(f"text={CASE}")
    page.wait_for_url(f"{site.url}/cases/{CASE}")
    assert page.locator("#steps .step").get_attribute("data-light") in ("red", "yellow", "green")
    assert page.locator(".rec-link").count() == 1
    _shot(page, site, "case")
    page.click("#logout")
    page.wait_for_url(f"{site.url}/login")
    page.goto(f"{site.url}/cases/{CASE}")
    page.wait_for_url(f"{site.url}/login?next=/cases/{CASE}")


def test_clip_view_seeks_on_click_and_highlights_the_spoken_word(browser: Any, site: Site) -> None:
    page = _login(browser, site, "reviewer")
    page.goto(f"{site.url}/recordings/{site.rec}")
    words = page.locator("#transcript-0 .word")
    assert words.count() >= 3, page.content()
    for i in range(words.count()):
        start = float(words.nth(i).get_attribute("data-start"))
        end = float(words.nth(i).get_attribute("data-end"))
        assert 0 <= start <= end
    page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=20_000)

    target = words.nth(2)
    start = float(target.get_attribute("data-start"))
    target.click()
    page.wait_for_function("!document.getElementById('player').seeking", timeout=10_000)
    now = page.evaluate("document.getElementById('player').currentTime")
    assert abs(now - start) <= 0.3, (now, start)

    page.evaluate("(() => { const p = document.getElementById('player'); p.muted = true;"
                  " p.currentTime = 0; return p.play(); })()")  # fmt: skip
    samples: list[tuple[float, float, float]] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got = page.evaluate(
            "(() => { const p = document.getElementById('player');"
            " const w = document.querySelector('#transcript-0 .word.current');"
            " return [p.currentTime, p.ended, w && +w.dataset.start, w && +w.dataset.end]; })()"
        )
        if got[2] is not None:
            samples.append((got[2], got[0], got[3]))
        if got[1] or len(samples) >= 8:
            break
        page.wait_for_timeout(150)
    assert samples, "no word was highlighted while playing"
    for w_start, t, w_end in samples:
        assert w_start - 0.3 <= t <= w_end + 0.3, samples
    _shot(page, site, "clip-playing")
    page.evaluate("document.getElementById('player').pause()")
    paused = "document.getElementById('player').paused"
    page.locator("h1").click()  # the keys belong to the page, not to a focused control
    page.keyboard.press(" ")
    page.wait_for_function(f"!{paused}", timeout=5_000)
    page.keyboard.press("k")
    page.wait_for_function(paused, timeout=5_000)
    page.evaluate("document.getElementById('player').currentTime = 0")
    page.keyboard.press("ArrowRight")
    moved = page.evaluate("document.getElementById('player').currentTime")
    duration = page.evaluate("document.getElementById('player').duration")
    assert abs(moved - min(5.0, duration)) <= 0.3, (moved, duration)

    page.fill("#search", words.nth(1).inner_text().strip())
    assert page.locator("#transcript-0 .word.hit").count() >= 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        actions = {e.action for e in access_events(site.svc, recording=site.rec, user="reviewer")}
        if "access.played" in actions:
            break
        time.sleep(0.2)
    assert "access.played" in actions and "access.media.mezzanine" in actions, actions


def test_a_user_without_the_case_gets_404(browser: Any, site: Site) -> None:
    page = _login(browser, site, "outsider")
    response = page.goto(f"{site.url}/recordings/{site.rec}")
    assert response.status == 404
    assert page.locator("#not-found").is_visible()
    assert page.locator(".word").count() == 0
    api = page.request.get(f"{site.url}/api/recordings/{site.rec}/media/mezzanine")
    assert api.status == 404
    _shot(page, site, "outsider-404")


def test_chinese_by_switch_and_by_accept_language(browser: Any, site: Site) -> None:
    page = _login(browser, site, "reviewer")
    assert page.locator("#page-title").inner_text() == "Cases"
    page.click("#lang-zh")
    page.wait_for_url(f"{site.url}/cases")
    assert page.locator("#page-title").inner_text() == "案件"
    assert page.locator("#logout").inner_text() == "退出登录"
    _shot(page, site, "cases-zh")
    fresh = browser.new_context(locale="zh-CN").new_page()
    fresh.goto(f"{site.url}/login")
    assert fresh.locator("#login-submit").inner_text() == "登录"


# Without a browser: the session cookie's rules, over the TestClient world of the API tests.


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    svc = open_services(tmp_path_factory.mktemp("websession") / "data")
    try:
        yield from build_world(svc)
    finally:
        svc.close()


def _web_login(client: TestClient, name: str = "reviewer") -> None:
    client.cookies.clear()
    client.get("/login")
    csrf = client.cookies.get(CSRF_COOKIE)
    form = {"username": name, "password": PASSWORD, "csrf": csrf}
    r = client.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_login_form_needs_its_csrf_token(world: World) -> None:
    client = world.client
    client.cookies.clear()
    client.get("/login")
    form = {"username": "reviewer", "password": PASSWORD, "csrf": "forged"}
    r = client.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 403 and SESSION_COOKIE not in r.cookies


def test_session_cookie_works_for_the_api_with_csrf_on_state_changes(world: World) -> None:
    client = world.client
    _web_login(client)
    assert client.get(f"/api/recordings/{world.own_rec}").status_code == 200
    url = f"/api/recordings/{world.own_rec}/played"
    body = {"ranges": [{"start": 0.5, "end": 1.5}]}
    assert client.post(url, json=body).status_code == 403  # no CSRF header
    r = client.post(url, json=body, headers={CSRF_HEADER: "forged"})
    assert r.status_code == 403
    r = client.post(url, json=body, headers={CSRF_HEADER: client.cookies.get(CSRF_COOKIE) or ""})
    assert r.status_code == 204
    (event,) = [e for e in access_events(world.svc, recording=world.own_rec) if
                e.action == "access.played"]  # fmt: skip
    assert event.user == "reviewer" and event.details["range"] == "seconds=0.50-1.50"
    bad = {"ranges": [{"start": 2, "end": 1}]}
    assert client.post(url, json=bad, headers={CSRF_HEADER: client.cookies.get(CSRF_COOKIE) or ""}
                       ).status_code == 422  # fmt: skip
    # a bearer token needs no CSRF token, and still works beside the cookie path
    client.cookies.clear()
    assert client.post(url, json=body, headers=world.auth("reviewer")).status_code == 204


def test_logout_revokes_and_an_expired_session_goes_back_to_login(world: World) -> None:
    client = world.client
    _web_login(client)
    session = client.cookies.get(SESSION_COOKIE)
    r = client.post("/logout", data={"csrf": client.cookies.get(CSRF_COOKIE)},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, session or "")
    assert client.get(f"/api/recordings/{world.own_rec}").status_code == 401
    stale = start_session(world.svc, "reviewer", ttl=timedelta(seconds=-1))
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, stale.access_token)
    r = client.get("/cases", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/cases&expired=1"
    assert client.get(f"/api/recordings/{world.own_rec}").status_code == 401
    page = client.get("/login?expired=1&next=/cases")
    assert "session has ended" in page.text


def test_clip_view_marks_doubtful_and_untranscribed_spans_and_offers_each_stream(
    world: World,
) -> None:
    seg = Segment(start=0.5, end=1.5, text=" one two", language="en",
                  language_probability=1.0, avg_logprob=-1.2, no_speech_prob=0.1,
                  compression_ratio=1.0, confidence=0.3, speech_ratio=1.0,
                  words=[Word(0.5, 0.9, " one", 0.3), Word(1.0, 1.5, " two", 0.3)],
                  doubtful=True, doubt_reasons=["low confidence"], channel=1)  # fmt: skip
    streams = [
        Transcript(recording_id=world.own_rec, stream_index=1, stream_label="audio 1",
                   status="done", language="en", segments=[seg],
                   untranscribed=[UntranscribedSpan(2.0, 3.5, 0)]),
        Transcript(recording_id=world.own_rec, stream_index=2, stream_label="audio 2",
                   status="no_speech"),
    ]  # fmt: skip
    world.svc.db.run(lambda s: replace_transcripts(s, world.own_rec, "u" * 64, streams))
    _web_login(world.client)
    html = world.client.get(f"/recordings/{world.own_rec}").text
    assert 'class="segment doubtful"' in html and "low confidence" in html
    assert 'class="untranscribed" data-start="2.0" data-end="3.5"' in html
    assert '<span class="word" data-start="1.0" data-end="1.5"> two</span>' in html
    assert 'id="stream-select"' in html and 'id="transcript-1"' in html
    assert "J/L" in html  # the keyboard help (a dict method's name once stood in for it)
