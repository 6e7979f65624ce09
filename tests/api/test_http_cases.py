"""Cases over HTTP: the case view, steps, links made and decided by a case officer, the
"reason required before viewing" flag end to end, statistics, and users managed by an
admin. The authorization of each route is in test_http_matrix.py; here, what they do."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select

from cases.tables import LINK_SUGGESTED, Case, Link
from storage.db.schema import LedgerEvent, Recording
from tests.api.http_world import OWN, PASSWORD, World, build_world, login, open_services
from tests.cases.case_factory import add_step


@pytest.fixture()
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    svc = open_services(tmp_path_factory.mktemp("cases") / "data")
    try:
        yield from build_world(svc)
    finally:
        svc.close()


def _own_step(world: World) -> tuple[str, datetime]:
    """A step of the own case around the own recording's capture time."""
    start = datetime(2024, 5, 14, 14, 0, tzinfo=UTC)

    def run(session: object) -> None:
        from sqlalchemy.orm import Session

        assert isinstance(session, Session)
        rec = session.get(Recording, world.own_rec)
        assert rec is not None
        rec.capture_start = start
        rec.duration_s = 600.0
        case = session.scalars(select(Case).where(Case.case_no == OWN)).one()
        add_step(session, case, "S1", "seizure", start, start + timedelta(minutes=10))

    world.svc.db.run(run)
    return "S1", start


def _events(world: World, action: str) -> list[dict[str, object]]:
    with world.svc.db.session() as session:
        rows = session.scalars(select(LedgerEvent).where(LedgerEvent.action == action))
        return [{"actor": r.actor, **json.loads(r.details)} for r in rows]


def test_case_view_and_steps(world: World) -> None:
    _own_step(world)
    r = world.client.get(f"/api/cases/{OWN}", headers=world.auth("reviewer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["case_no"] == OWN
    assert body["reason_required"] is False
    [step] = body["compliance"]["steps"]
    assert step["key"] == "S1" and step["light"] == "red"  # full recording, nothing linked
    steps = world.client.get(f"/api/cases/{OWN}/steps", headers=world.auth("reviewer")).json()
    assert [(s["key"], s["kind"]) for s in steps] == [("S1", "seizure")]


def test_a_case_officer_links_a_recording_and_the_light_turns(world: World) -> None:
    key, start = _own_step(world)
    r = world.client.post(
        f"/api/cases/{OWN}/links",
        headers=world.auth("case_officer"),
        json={"recording": world.own_rec, "step": key, "proves": "the seizure"},
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["step_key"] == key and made["recording_id"] == world.own_rec
    compliance = world.client.get(f"/api/cases/{OWN}/compliance",
                                  headers=world.auth("reviewer")).json()  # fmt: skip
    step = compliance["steps"][0]
    # Covered in full now: no longer red (yellow at most, for what the officer did not say).
    assert step["light"] != "red" and step["covered_s"] == step["window_s"], json.dumps(step)
    assert not step["gaps"]
    [event] = _events(world, "case.link.confirmed")
    assert event["actor"] == "case_officer"  # the authenticated user, not the server's actor

    # A step of another case cannot be reached through this case.
    r = world.client.post(f"/api/cases/{OWN}/links", headers=world.auth("case_officer"),
                          json={"recording": world.own_rec, "step": "NOPE"})  # fmt: skip
    assert r.status_code == 404, r.text
    # Nor can a recording the caller does not see.
    r = world.client.post(f"/api/cases/{OWN}/links", headers=world.auth("case_officer"),
                          json={"recording": world.other_rec, "step": key})  # fmt: skip
    assert r.status_code == 404, r.text


def test_suggested_links_are_confirmed_or_rejected_in_their_case_only(world: World) -> None:
    key, start = _own_step(world)

    def suggest(session: object) -> int:
        from sqlalchemy.orm import Session

        from cases.tables import Step

        assert isinstance(session, Session)
        step = session.scalars(select(Step).where(Step.key == key)).one()
        link = Link(recording_id=world.own_rec, step_id=step.id, range_start=start,
                    range_end=start + timedelta(minutes=10), status=LINK_SUGGESTED, basis={},
                    created_at=start, created_by="suggest")  # fmt: skip
        session.add(link)
        session.flush()
        return link.id

    link_id = world.svc.db.run(suggest)
    wrong_case = world.client.post(f"/api/cases/C-OTHER-2/links/{link_id}/confirm",
                                   headers=world.auth("admin"))  # fmt: skip
    assert wrong_case.status_code == 404
    r = world.client.post(f"/api/cases/{OWN}/links/{link_id}/confirm",
                          headers=world.auth("case_officer"))  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json() == {"decided": [link_id]}
    with world.svc.db.session() as session:
        link = session.get(Link, link_id)
        assert link is not None and link.status == "confirmed"
        assert link.decided_by == "case_officer"


def test_reason_required_before_viewing(world: World) -> None:
    media = f"/api/recordings/{world.own_rec}/media/mezzanine"
    # Only a case officer (or admin) sets the flag.
    flag = {"required": True}
    r = world.client.put(f"/api/cases/{OWN}/reason-required", headers=world.auth("reviewer"),
                         json=flag)  # fmt: skip
    assert r.status_code == 403
    r = world.client.put(f"/api/cases/{OWN}/reason-required",
                         headers=world.auth("case_officer"), json=flag)  # fmt: skip
    assert r.status_code == 200, r.text
    assert world.client.get(f"/api/cases/{OWN}", headers=world.auth("reviewer")).json()[
        "reason_required"
    ]

    # Without a reason: 428 for the media, the transcript and search hits; ledgered.
    r = world.client.get(media, headers={**world.auth("reviewer"), "Range": "bytes=0-99"})
    assert r.status_code == 428, r.text
    assert "reason" in r.json()["detail"]
    r = world.client.get(f"/api/recordings/{world.own_rec}/transcript",
                         headers=world.auth("reviewer"))  # fmt: skip
    assert r.status_code == 428
    hits = world.client.get("/api/search", params={"q": "horizon", "case": OWN},
                            headers=world.auth("reviewer")).json()  # fmt: skip
    assert hits == []
    denied = [e for e in _events(world, "access.denied") if e.get("because")]
    assert {e["what"] for e in denied} >= {"media.mezzanine", "transcript"}
    # The poster (a still) needs none.
    r = world.client.get(f"/api/recordings/{world.own_rec}/media/poster",
                         headers=world.auth("reviewer"))  # fmt: skip
    assert r.status_code == 200

    # With one (header, percent-encoded for Chinese; or the query for <video src>).
    why = "复核第3步扣押程序"
    r = world.client.get(media, headers={**world.auth("reviewer"), "Range": "bytes=0-99",
                                         "X-Custos-Reason": quote(why)})  # fmt: skip
    assert r.status_code == 206, r.text
    assert r.content == world.media["mezzanine"][:100]
    r = world.client.get(f"{media}?reason={quote('legal review')}",
                         headers={**world.auth("reviewer"), "Range": "bytes=0-9"})  # fmt: skip
    assert r.status_code == 206
    hits = world.client.get("/api/search", params={"q": "horizon", "case": OWN, "reason": why},
                            headers=world.auth("reviewer")).json()  # fmt: skip
    assert [h["recording_id"] for h in hits] == [world.own_rec]

    # The auditor reads who viewed which range, and why.
    log = world.client.get("/api/audit/access", params={"recording": world.own_rec},
                           headers=world.auth("auditor")).json()  # fmt: skip
    reasons = [e["details"].get("reason") for e in log if e["action"] == "access.media.mezzanine"]
    assert why in reasons and "legal review" in reasons
    ranges = [e["details"]["range"] for e in log if e["details"].get("reason") == why]
    assert "bytes=0-99" in ranges

    # Turned off again: viewing needs no reason.
    world.client.put(f"/api/cases/{OWN}/reason-required", headers=world.auth("case_officer"),
                     json={"required": False})  # fmt: skip
    r = world.client.get(media, headers={**world.auth("reviewer"), "Range": "bytes=0-9"})
    assert r.status_code == 206


def test_statistics_as_json(world: World) -> None:
    r = world.client.get("/api/stats", params={"from": "2020-01-01T00:00:00Z",
                         "to": "2030-01-01T00:00:00Z"}, headers=world.auth("auditor"))  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["summary"]["cases"] == 2
    assert {"monthly", "by_unit", "by_kind"} <= set(body)
    r = world.client.get("/api/stats", params={"from": "2030-01-01T00:00:00Z",
                         "to": "2020-01-01T00:00:00Z"}, headers=world.auth("auditor"))  # fmt: skip
    assert r.status_code == 422


def test_an_admin_manages_users_over_http(world: World) -> None:
    admin = world.auth("admin")
    new = {"name": "li.wei", "role": "reviewer", "password": PASSWORD}
    r = world.client.post("/api/users", headers=admin, json=new)
    assert r.status_code == 201, r.text
    assert r.json() == {"name": "li.wei", "role": "reviewer", "cases": [], "disabled": False}
    again = world.client.post("/api/users", headers=admin, json=new)
    assert again.status_code == 400
    bad_role = world.client.post("/api/users", headers=admin, json={**new, "role": "root"})
    assert bad_role.status_code == 400

    token = login(world.client, "li.wei")
    mine = {"Authorization": f"Bearer {token}"}
    media = f"/api/recordings/{world.own_rec}/media/mezzanine"
    assert world.client.get(media, headers={**mine, "Range": "bytes=0-9"}).status_code == 404
    r = world.client.post("/api/users/li.wei/grants", headers=admin, json={"case_no": OWN})
    assert r.status_code == 200 and r.json()["cases"] == [OWN]
    assert world.client.get(media, headers={**mine, "Range": "bytes=0-9"}).status_code == 206
    r = world.client.delete(f"/api/users/li.wei/grants/{OWN}", headers=admin)
    assert r.status_code == 200 and r.json()["cases"] == []
    assert world.client.get(media, headers={**mine, "Range": "bytes=0-9"}).status_code == 404

    assert world.client.post("/api/users/admin/disable", headers=admin).status_code == 400
    assert world.client.post("/api/users/li.wei/disable", headers=admin).status_code == 204
    assert world.client.get("/api/users/me", headers=mine).status_code == 401
    names = {u["name"]: u for u in world.client.get("/api/users", headers=admin).json()}
    assert names["li.wei"]["disabled"] is True
    actions = [e["actor"] for e in _events(world, "user.added")]
    assert "admin" in actions  # ledgered as the admin who made the user


def test_derivatives_and_jobs_of_a_recording(world: World) -> None:
    r = world.client.get(f"/api/recordings/{world.own_rec}/derivatives",
                         headers=world.auth("technician"))  # fmt: skip
    assert r.status_code == 200, r.text
    kinds = {d["kind"]: d for d in r.json()}
    assert set(kinds) == {"mezzanine", "proxy", "poster", "thumbs", "audio16k"}
    assert kinds["mezzanine"]["size"] == len(world.media["mezzanine"])
    r = world.client.get(f"/api/recordings/{world.own_rec}/jobs", headers=world.auth("technician"))
    assert r.status_code == 200 and r.json() == []  # the world's media were stored directly
