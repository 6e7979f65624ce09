"""Authorization matrix from the OpenAPI schema: every route x every role x own case /
other case, and anonymous. A route added without a rule here fails the suite."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from api.services.users import ROLES
from tests.api.http_world import OTHER, OWN, World, build_world, open_services

ALL = frozenset(ROLES)
ALL_CASES = frozenset({"auditor", "admin"})
MEDIA = frozenset({"case_officer", "reviewer", "disclosure_officer", "auditor", "admin"})
UPLOAD = frozenset({"technician", "case_officer", "admin"})
AUDIT = ALL_CASES
DREAD = frozenset({"reviewer", "disclosure_officer", "auditor", "admin"})
DWRITE = frozenset({"disclosure_officer", "admin"})
NO_EXPORT = "00000000-0000-0000-0000-000000000000"
ACK: tuple[frozenset[str] | str, bool, int] = (DWRITE, True, 404)  # no such finding
PUBLIC = "public"
CWRITE = frozenset({"case_officer", "admin"})
ADMIN = frozenset({"admin"})
# (method, path) -> (roles allowed, scoped: the record's case decides, success status)
RULES: dict[tuple[str, str], tuple[frozenset[str] | str, bool, int]] = {
    ("GET", "/healthz"): (PUBLIC, False, 200),
    ("GET", "/readyz"): (PUBLIC, False, 200),
    ("GET", "/metrics"): (PUBLIC, False, 200),
    ("POST", "/api/auth/token"): (PUBLIC, False, 422),  # no form: nothing to check yet
    ("GET", "/api/users/me"): (ALL, False, 200),
    ("GET", "/api/cases"): (ALL, False, 200),
    ("GET", "/api/cases/{case_no}/recordings"): (ALL, True, 200),
    ("GET", "/api/cases/{case_no}/compliance"): (ALL, True, 200),
    ("GET", "/api/recordings/{recording_id}"): (ALL, True, 200),
    ("GET", "/api/recordings/{recording_id}/media/{kind}"): (MEDIA, True, 206),
    ("GET", "/api/recordings/{recording_id}/transcript"): (MEDIA, True, 200),
    ("POST", "/api/recordings/{recording_id}/played"): (MEDIA, True, 204),
    ("GET", "/api/search"): (MEDIA, True, 200),
    ("GET", "/api/audit/access"): (AUDIT, False, 200),
    ("GET", "/api/ledger/verify"): (AUDIT, False, 200),
    ("OPTIONS", "/api/uploads/"): (PUBLIC, False, 204),
    ("POST", "/api/uploads/"): (UPLOAD, True, 201),
    ("HEAD", "/api/uploads/{upload_id}"): (UPLOAD, True, 200),
    ("PATCH", "/api/uploads/{upload_id}"): (UPLOAD, True, 204),
    ("DELETE", "/api/uploads/{upload_id}"): (UPLOAD, True, 204),
    ("GET", "/api/uploads/{upload_id}"): (UPLOAD, True, 200),
    ("GET", "/api/uploads/batches/{batch}"): (ALL, False, 200),
    ("GET", "/api/uploads/batches/{batch}/receipt"): (ALL, False, 404),  # nobody's batch b1
    # the world's recordings were never detected, and are not media a render can read;
    # tests/api/test_http_disclosure.py runs the real flow
    ("GET", "/api/recordings/{recording_id}/tracks"): (MEDIA, True, 404),
    ("GET", "/api/recordings/{recording_id}/tracks/{track_no}/thumbnail"): (MEDIA, True, 404),
    ("PUT", "/api/recordings/{recording_id}/plan"): (DWRITE, True, 422),  # no body
    ("GET", "/api/recordings/{recording_id}/renders/latest/media"): (DREAD, True, 404),
    ("GET", "/api/recordings/{recording_id}/plan"): (DREAD, True, 200),
    ("POST", "/api/recordings/{recording_id}/plan"): (DWRITE, True, 200),
    ("POST", "/api/recordings/{recording_id}/renders"): (DWRITE, True, 422),
    ("GET", "/api/recordings/{recording_id}/renders/latest"): (DREAD, True, 404),
    ("POST", "/api/recordings/{recording_id}/findings/{finding_id}/acknowledge"): ACK,
    ("POST", "/api/recordings/{recording_id}/exports"): (DWRITE, True, 422),  # no body
    ("GET", "/api/exports"): (DREAD, False, 200),
    ("GET", "/api/exports/{export_id}/download"): (DREAD, False, 404),
    ("POST", "/api/exports/{export_id}/withdraw"): (DWRITE, False, 404),
    ("GET", "/api/jobs"): (ALL, True, 200),
    ("GET", "/api/jobs/events"): (ALL, False, 200),  # SSE; ends at once: no job is moving
    ("GET", "/api/cases/{case_no}"): (ALL, True, 200),
    ("GET", "/api/cases/{case_no}/steps"): (ALL, True, 200),
    ("POST", "/api/cases/{case_no}/links"): (CWRITE, True, 422),  # no body
    ("POST", "/api/cases/{case_no}/links/{link_id}/confirm"): (CWRITE, True, 404),  # no link
    ("POST", "/api/cases/{case_no}/links/{link_id}/reject"): (CWRITE, True, 404),
    ("PUT", "/api/cases/{case_no}/reason-required"): (CWRITE, True, 422),  # no body
    ("GET", "/api/stats"): (AUDIT, False, 200),
    ("GET", "/api/users"): (ADMIN, False, 200),
    ("POST", "/api/users"): (ADMIN, False, 422),  # no body
    # {name}: a user that does not exist, so the matrix changes nobody's access
    ("POST", "/api/users/{name}/grants"): (ADMIN, False, 422),
    ("DELETE", "/api/users/{name}/grants/{case_no}"): (ADMIN, False, 404),
    ("POST", "/api/users/{name}/disable"): (ADMIN, False, 404),
    ("GET", "/api/recordings/{recording_id}/derivatives"): (ALL, True, 200),
    ("GET", "/api/recordings/{recording_id}/jobs"): (ALL, True, 200),
    ("GET", "/api/recordings/{recording_id}/bookmarks"): (MEDIA, True, 200),
    ("POST", "/api/recordings/{recording_id}/bookmarks"): (MEDIA, True, 422),  # no body
    ("DELETE", "/api/recordings/{recording_id}/bookmarks/{bookmark_id}"): (MEDIA, True, 404),
    ("GET", "/api/ledger/events"): (AUDIT, False, 200),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    svc = open_services(tmp_path_factory.mktemp("matrix") / "data")
    try:
        yield from build_world(svc)
    finally:
        svc.close()


def _operations(world: World) -> set[tuple[str, str]]:
    schema = world.client.get("/openapi.json").json()
    return {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}


def test_every_route_has_a_rule(world: World) -> None:
    assert _operations(world) == set(RULES)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _new_upload(world: World, owner: str, case: str = OWN) -> str:
    meta = f"filename {_b64('x.bin')},case {_b64(case)}"
    r = world.client.post("/api/uploads/", headers={**world.auth(owner), "Tus-Resumable": "1.0.0",
                          "Upload-Length": "10", "Upload-Metadata": meta})  # fmt: skip
    assert r.status_code == 201, r.text
    return r.headers["location"].rsplit("/", 1)[1]


def _call(world: World, method: str, path: str, who: str | None, scope: str) -> Any:
    case = OWN if scope == "own" else OTHER
    rec = world.own_rec if scope == "own" else world.other_rec
    headers = {"Tus-Resumable": "1.0.0", "Range": "bytes=0-9"}
    if who is not None:
        headers.update(world.auth(who))
    url = path.replace("{case_no}", case).replace("{recording_id}", rec)
    url = url.replace("{kind}", "mezzanine").replace("{batch}", "b1")
    url = url.replace("{finding_id}", "999999").replace("{export_id}", NO_EXPORT)
    url = (
        url.replace("{link_id}", "999999")
        .replace("{bookmark_id}", "999999")
        .replace("{track_no}", "1")
        .replace("{name}", "nobody")
    )
    if "{upload_id}" in url:
        # own: the caller's upload (for a role that cannot upload: the technician's);
        # other: somebody else's upload
        owner = who if who in UPLOAD and scope == "own" else "technician"
        if scope == "other":
            owner = "case_officer" if who != "case_officer" else "technician"
        url = url.replace("{upload_id}", _new_upload(world, owner))
    params: dict[str, str] = {}
    if path == "/api/search":
        params = {"q": "horizon", "case": case}
    if path == "/api/stats":
        params = {"from": "2020-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"}
    if path == "/api/jobs":
        params = {"recording": rec}
    if path == "/api/ledger/events":
        params = {"subject": rec}
    if method == "POST" and path == "/api/uploads/":
        meta = f"case {base64.b64encode(case.encode()).decode()}"
        headers.update({"Upload-Length": "10", "Upload-Metadata": meta})
    if method == "PATCH":
        headers.update({"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"})
        return world.client.request(method, url, headers=headers, content=b"abc")
    return world.client.request(method, url, headers=headers, params=params)


def _expected(route: tuple[str, str], who: str | None, scope: str) -> int:
    roles, scoped, ok = RULES[route]
    if roles == PUBLIC:
        return ok
    if who is None:
        return 401
    assert isinstance(roles, frozenset)
    if route == ("POST", "/api/uploads/"):
        # refused, not hidden: only a case the caller may write to (admin: any)
        writes = who in UPLOAD and (scope == "own" or who == "admin")
        return ok if writes else 403
    if "{upload_id}" in route[1]:
        # an upload exists only for its owner (and admin); see _call for who owns which
        return ok if who == "admin" or (scope == "own" and who in UPLOAD) else 404
    if scoped and scope == "other" and who not in ALL_CASES:
        return 404
    return ok if who in roles else 403


@pytest.mark.parametrize("route", sorted(RULES), ids=lambda r: f"{r[0]} {r[1]}")
def test_matrix(world: World, route: tuple[str, str]) -> None:
    method, path = route
    rule = RULES[route]
    failures = []
    for who in (None, *ROLES):
        for scope in ("own", "other"):
            if who is None and scope == "other":
                continue
            if rule[0] == PUBLIC and who is not None:
                continue
            want = _expected(route, who, scope)
            got = _call(world, method, path, who, scope).status_code
            if got != want:
                failures.append(f"{who or 'anonymous'}/{scope}: {got} (expected {want})")
    assert not failures, failures
