"""Disclosure over HTTP, for real: a clip with a talking face (the shared GRID clip) is
ingested into the officer's case and detected; then through the API its tracks are read,
the plan is made, rendered and checked, exported (409 while findings are open), the
package is downloaded and verified offline with the deployment's public key, and the
export is withdrawn. A reviewer may read but not export; an outsider sees nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from disclosure.package import verify_package
from ingest.acquire import CaptureMeta, ingest
from models.vision.detect_stage import DetectParams, run_detect
from storage.ledger_keys import load_keys
from tests.api.http_world import OWN, World, build_world, open_services
from tests.models.detect_fixtures import media

pytestmark = pytest.mark.media


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    svc = open_services(tmp_path_factory.mktemp("disclosure") / "data")
    try:
        yield from build_world(svc)
    finally:
        svc.close()


@pytest.fixture(scope="module")
def clip(world: World, tmp_path_factory: pytest.TempPathFactory) -> str:
    """GRID's talking face, 2 s, with a sine tone: ingested into OWN and detected."""
    out = tmp_path_factory.mktemp("clip") / "interview.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(media("av", "grid_bbaf2n.mpg")),
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-map", "0:v",
                    "-map", "1:a", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:a", "aac", str(out)], check=True, timeout=120)  # fmt: skip
    receipt = ingest(world.svc, [out], CaptureMeta(case_no=OWN))
    rec = receipt.entries[0].recording_id
    assert rec is not None, receipt.entries[0]
    run_detect(world.svc, rec, DetectParams(), lambda _: None)
    return rec


def test_tracks(world: World, clip: str) -> None:
    r = world.client.get(f"/api/recordings/{clip}/tracks", headers=world.auth("reviewer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["recording_id"] == clip
    assert any(t["category"] == "face" for t in body["tracks"]), body["run"]
    r = world.client.get(f"/api/recordings/{clip}/tracks", headers=world.auth("outsider"))
    assert r.status_code == 404


def test_plan_render_export_download_withdraw(world: World, clip: str, tmp_path: Path) -> None:
    officer = world.auth("disclosure_officer")
    base = f"/api/recordings/{clip}"
    r = world.client.get(f"{base}/plan", headers=officer)
    assert r.status_code == 200 and r.json()["current"] is None, r.text

    r = world.client.post(f"{base}/plan", headers=officer)
    assert r.status_code == 200, r.text
    current = r.json()["current"]
    assert current["author"] == "disclosure_officer"
    assert any(t["redact"] for t in current["plan"]["tracks"]), current

    r = world.client.post(f"{base}/renders", headers=officer)
    assert r.status_code == 201, r.text
    render = r.json()
    assert render["plan_version"] == current["version"] and render["frames"] > 0
    r = world.client.get(f"{base}/renders/latest", headers=world.auth("reviewer"))
    assert r.status_code == 200 and r.json()["render_id"] == render["render_id"], r.text

    # a reviewer reads but may not export; an outsider does not see the recording at all
    export = {"purpose": "court", "recipient": "Court of First Instance"}
    r = world.client.post(f"{base}/exports", headers=world.auth("reviewer"), json=export)
    assert r.status_code == 403, r.text
    r = world.client.post(f"{base}/exports", headers=world.auth("outsider"), json=export)
    assert r.status_code == 404, r.text
    r = world.client.get(f"{base}/plan", headers=world.auth("outsider"))
    assert r.status_code == 404, r.text

    open_findings = [f for f in render["findings"] if f["state"] == "open"]
    if open_findings:
        r = world.client.post(f"{base}/exports", headers=officer, json=export)
        assert r.status_code == 409, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        for finding in open_findings:
            url = f"{base}/findings/{finding['id']}/acknowledge"
            r = world.client.post(url, headers=officer, json={"reason": "checked: blurred"})
            assert r.status_code == 200 and r.json()["state"] != "open", r.text

    r = world.client.post(f"{base}/exports", headers=officer, json=export)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["recording_id"] == clip and made["exported_by"] == "disclosure_officer"

    listed = world.client.get("/api/exports", headers=world.auth("reviewer")).json()
    assert [e["id"] for e in listed] == [made["id"]]
    assert world.client.get("/api/exports", headers=world.auth("outsider")).json() == []
    r = world.client.get(f"/api/exports/{made['id']}/download", headers=world.auth("outsider"))
    assert r.status_code == 404

    r = world.client.get(f"/api/exports/{made['id']}/download", headers=world.auth("reviewer"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    package = tmp_path / "package.zip"
    package.write_bytes(r.content)
    verifier = load_keys(world.svc.settings).verifier
    assert verifier is not None
    result = verify_package(package, verifier)
    assert result.ok, result.problems
    assert result.export_id == made["id"] and result.recording_id == clip

    r = world.client.post(f"/api/exports/{made['id']}/withdraw", headers=world.auth("reviewer"),
                          json={"reason": "sent to the wrong court"})  # fmt: skip
    assert r.status_code == 403, r.text
    r = world.client.post(f"/api/exports/{made['id']}/withdraw", headers=officer,
                          json={"reason": "sent to the wrong court"})  # fmt: skip
    assert r.status_code == 200 and r.json()["withdrawn"], r.text
    r = world.client.post(f"/api/exports/{made['id']}/withdraw", headers=officer,
                          json={"reason": "again"})  # fmt: skip
    assert r.status_code == 409, r.text
    r = world.client.get(f"/api/exports/{made['id']}/download", headers=officer)
    assert r.status_code == 410, r.text

    # every step is in the ledger, by the authenticated user; retrievals are ledgered
    r = world.client.get("/api/ledger/events", params={"subject": clip},
                         headers=world.auth("auditor"))  # fmt: skip
    assert r.status_code == 200, r.text
    events = {(e["action"], e["actor"]) for e in r.json()}
    for action in ("redaction.rendered", "disclosure.exported", "disclosure.withdrawn",
                   "access.export", "access.tracks"):  # fmt: skip
        assert any(a == action for a, _ in events), (action, sorted(events))
    assert ("disclosure.exported", "disclosure_officer") in events
    r = world.client.get("/api/ledger/events", headers=world.auth("reviewer"))
    assert r.status_code == 403


def test_jobs(world: World, clip: str) -> None:
    r = world.client.get("/api/jobs", params={"recording": clip}, headers=world.auth("technician"))
    assert r.status_code == 200, r.text
    assert all(j["recording_id"] == clip for j in r.json())
    r = world.client.get("/api/jobs", params={"recording": clip}, headers=world.auth("outsider"))
    assert r.status_code == 404
    r = world.client.get("/api/jobs", headers=world.auth("outsider"))
    assert r.status_code == 200
    assert all(j["recording_id"] != clip for j in r.json())


def test_plan_edits_render_media_and_track_thumbnails(world: World, clip: str) -> None:
    """What the redaction screen does: decide tracks, draw a region, mute a span, render,
    watch the redacted output by ranges; each edit is a new, ledgered plan version."""
    officer = world.auth("disclosure_officer")
    base = f"/api/recordings/{clip}"
    if world.client.get(f"{base}/plan", headers=officer).json()["current"] is None:
        assert world.client.post(f"{base}/plan", headers=officer).status_code == 200
    tracks = world.client.get(f"{base}/tracks", headers=officer).json()["tracks"]
    face = next(t for t in tracks if t["category"] == "face")
    r = world.client.get(f"{base}/tracks/{face['track']}/thumbnail", headers=officer)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content[:2] == b"\xff\xd8"  # a JPEG
    assert world.client.get(f"{base}/tracks/9999/thumbnail", headers=officer).status_code == 404

    before = world.client.get(f"{base}/plan", headers=officer).json()["current"]["version"]
    edit = {
        "reason": "region over the badge; the tone is muted from 0.5 s to 1.0 s",
        "tracks": [{"track_no": face["track"], "redact": True, "method": "pixelate"}],
        "regions": [{"id": "badge", "start": 0.0, "end": 1.5, "shape": "ellipse",
                     "keyframes": [[0.0, 10, 10, 60, 50], [1.5, 30, 10, 80, 50]]}],
        "mutes": [{"stream_index": 0, "start": 0.5, "end": 1.0, "mode": "bleep"}],
    }  # fmt: skip
    assert world.client.put(f"{base}/plan", headers=world.auth("reviewer"),
                            json=edit).status_code == 403  # fmt: skip
    r = world.client.put(f"{base}/plan", headers=officer, json=edit)
    assert r.status_code == 200, r.text
    current = r.json()["current"]
    assert current["version"] == before + 1 and current["author"] == "disclosure_officer"
    plan = current["plan"]
    assert [t["method"] for t in plan["tracks"] if t["track_no"] == face["track"]] == ["pixelate"]
    assert [r["id"] for r in plan["regions"]] == ["badge"]
    assert plan["mutes"][0]["mode"] == "bleep" and plan["mutes"][0]["source"] == "manual"
    # A track the plan does not have, or a box with x2 < x1, is refused, not saved.
    bad = {"reason": "x", "tracks": [{"track_no": 4242, "redact": False}]}
    assert world.client.put(f"{base}/plan", headers=officer, json=bad).status_code == 409
    bad = {"reason": "x", "regions": [{**edit["regions"][0], "keyframes": [[0, 50, 10, 5, 40]]}]}  # type: ignore[dict-item]
    assert world.client.put(f"{base}/plan", headers=officer, json=bad).status_code == 409
    assert world.client.get(f"{base}/plan", headers=officer).json()["current"]["version"] == (
        before + 1
    )

    assert world.client.get(f"{base}/renders/latest/media", headers=officer).status_code == 404
    r = world.client.post(f"{base}/renders", headers=officer)
    assert r.status_code == 201 and r.json()["plan_version"] == before + 1, r.text
    r = world.client.get(f"{base}/renders/latest/media",
                         headers={**world.auth("reviewer"), "Range": "bytes=0-1023"})  # fmt: skip
    assert r.status_code == 206 and len(r.content) == 1024, r.text
    assert r.content[4:8] == b"ftyp"  # an MP4 from its first bytes
    assert r.headers["content-range"].startswith("bytes 0-1023/")
    r = world.client.get(f"{base}/renders/latest/media", headers=world.auth("outsider"))
    assert r.status_code == 404
