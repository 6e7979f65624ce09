"""Per-case access, range streaming and the access audit, over the real app on SQLite
(and on PostgreSQL for the denial/audit path)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.http_world import OTHER, OWN, World, build_world, open_services


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    svc = open_services(tmp_path_factory.mktemp("access") / "data")
    try:
        yield from build_world(svc)
    finally:
        svc.close()


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-0", 0, 1), ("bytes=100-4999", 100, 5000), ("bytes=150000-", 150000, None),
     ("bytes=-777", -777, None), ("bytes=10-99999999", 10, None)],
)  # fmt: skip
def test_range_requests_return_the_slice(world: World, header: str, start: int, end: int | None
                                         ) -> None:  # fmt: skip
    body = world.media["mezzanine"]
    r = world.client.get(f"/api/recordings/{world.own_rec}/media/mezzanine",
                         headers={**world.auth("reviewer"), "Range": header})  # fmt: skip
    assert r.status_code == 206
    want = body[start:end]
    assert r.content == want
    first = start if start >= 0 else len(body) + start
    assert r.headers["content-range"] == f"bytes {first}-{first + len(want) - 1}/{len(body)}"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-type"] == "video/mp4"
    assert int(r.headers["content-length"]) == len(want)


def test_whole_media_kinds_and_types(world: World) -> None:
    types = {"mezzanine": "video/mp4", "proxy": "video/mp4", "audio": "audio/wav",
             "poster": "image/jpeg", "sprite": "image/jpeg"}  # fmt: skip
    kinds = {"mezzanine": "mezzanine", "proxy": "proxy", "audio": "audio16k",
             "poster": "poster", "sprite": "thumbs"}  # fmt: skip
    for kind, ctype in types.items():
        r = world.client.get(f"/api/recordings/{world.own_rec}/media/{kind}",
                             headers=world.auth("reviewer"))  # fmt: skip
        assert r.status_code == 200, kind
        assert r.headers["content-type"] == ctype
        assert hashlib.sha256(r.content).digest() == hashlib.sha256(world.media[kinds[kind]]
                                                                   ).digest()  # fmt: skip


def test_range_past_the_end_is_416(world: World) -> None:
    headers = {**world.auth("reviewer"), "Range": "bytes=99999999-"}
    r = world.client.get(f"/api/recordings/{world.own_rec}/media/proxy", headers=headers)
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(world.media['proxy'])}"


def test_original_only_for_allowed_roles(world: World) -> None:
    url = f"/api/recordings/{world.own_rec}/media/original"
    assert world.client.get(url, headers=world.auth("reviewer")).status_code == 403
    r = world.client.get(url, headers={**world.auth("disclosure_officer"), "Range": "bytes=5-9"})
    assert r.status_code == 206 and r.content == world.original[5:10]


def test_outsider_gets_404_and_auditor_sees_the_attempt(world: World) -> None:
    c = world.client
    for url in (
        f"/api/recordings/{world.own_rec}",
        f"/api/recordings/{world.own_rec}/media/proxy",
        f"/api/recordings/{world.own_rec}/transcript",
        f"/api/cases/{OWN}/recordings",
    ):
        r = c.get(url, headers=world.auth("outsider"))
        assert r.status_code == 404, url
        assert r.headers["content-type"] == "application/problem+json"
    # an unknown id answers the same as a forbidden one
    missing = c.get("/api/recordings/does-not-exist", headers=world.auth("outsider"))
    assert missing.status_code == 404
    assert missing.json()["detail"].startswith("no recording")
    audit = c.get(f"/api/audit/access?recording={world.own_rec}&user=outsider",
                  headers=world.auth("auditor")).json()  # fmt: skip
    assert {e["action"] for e in audit} == {"access.denied"}
    assert {e["details"]["what"] for e in audit} >= {"recording", "media.proxy", "transcript"}
    by_case = c.get(f"/api/audit/access?case={OWN}&user=outsider", headers=world.auth("auditor"))
    assert any(e["subject"] == OWN for e in by_case.json())
    assert c.get("/api/audit/access", headers=world.auth("reviewer")).status_code == 403


def test_every_retrieval_is_ledgered_with_range(world: World) -> None:
    c = world.client
    c.get(f"/api/recordings/{world.own_rec}/media/proxy",
          headers={**world.auth("case_officer"), "Range": "bytes=10-19"})  # fmt: skip
    c.get(f"/api/search?q=horizon&case={OWN}", headers=world.auth("case_officer"))
    events = c.get(f"/api/audit/access?recording={world.own_rec}&user=case_officer",
                   headers=world.auth("admin")).json()  # fmt: skip
    media = next(e for e in events if e["action"] == "access.media.proxy")
    assert media["details"]["range"] == "bytes=10-19"
    assert media["details"]["user"] == "case_officer"
    search = next(e for e in events if e["action"] == "access.search")
    assert search["details"]["query"] == "horizon"


def test_lists_search_and_compliance_are_scoped(world: World) -> None:
    c = world.client
    assert [x["case_no"] for x in c.get("/api/cases", headers=world.auth("reviewer")).json()
            ] == [OWN]  # fmt: skip
    assert {x["case_no"] for x in c.get("/api/cases", headers=world.auth("auditor")).json()
            } == {OWN, OTHER}  # fmt: skip
    recs = c.get(f"/api/cases/{OWN}/recordings", headers=world.auth("technician")).json()
    assert [(r["id"], len(r["sha256"])) for r in recs] == [(world.own_rec, 64)]
    hits = c.get("/api/search?q=horizon", headers=world.auth("reviewer")).json()
    assert {h["recording_id"] for h in hits} == {world.own_rec}
    hits = c.get("/api/search?q=horizon", headers=world.auth("auditor")).json()
    assert {h["recording_id"] for h in hits} == {world.own_rec, world.other_rec}
    comp = c.get(f"/api/cases/{OWN}/compliance", headers=world.auth("reviewer"))
    assert comp.status_code == 200 and comp.json()["case_no"] == OWN
    vtt = c.get(f"/api/recordings/{world.own_rec}/transcript?format=vtt",
                headers=world.auth("reviewer"))  # fmt: skip
    assert vtt.headers["content-type"].startswith("text/vtt") and "WEBVTT" in vtt.text
    verify = c.get("/api/ledger/verify", headers=world.auth("auditor")).json()
    assert verify["ok"] is True


def test_denial_and_audit_on_each_database(tmp_path: Path, database_url: str) -> None:
    svc = open_services(tmp_path / "db", database_url)
    try:
        for w in build_world(svc):
            r = w.client.get(f"/api/recordings/{w.own_rec}/media/mezzanine",
                             headers={**w.auth("outsider"), "Range": "bytes=0-9"})  # fmt: skip
            assert r.status_code == 404
            ok = w.client.get(f"/api/recordings/{w.own_rec}/media/mezzanine",
                              headers={**w.auth("reviewer"), "Range": "bytes=0-9"})  # fmt: skip
            assert ok.status_code == 206 and ok.content == w.media["mezzanine"][:10]
            seen = w.client.get(f"/api/audit/access?recording={w.own_rec}",
                                headers=w.auth("auditor")).json()  # fmt: skip
            assert [e["action"] for e in seen][:2] == ["access.media.mezzanine", "access.denied"]
    finally:
        svc.close()
