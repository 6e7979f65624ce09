"""Schemathesis over the app's own OpenAPI schema: no generated request gets a 5xx.

Runs as an admin (who reaches every route) and as a reviewer with one case (whose
requests take the denied and not-found paths), against the same small world the other
HTTP tests use. The bound on examples keeps the run to a minute or two on two cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err

from tests.api.http_world import OWN, World, build_world, open_services

# Generated requests per operation and caller (each also replayed at existing records):
# about 50 operations x 2 callers x 12 x 2 requests, under a minute here. Success paths
# that need real media (renders, exports, tus bodies) are run for real in
# test_http_disclosure.py and test_http_uploads.py.
MAX_EXAMPLES = 12


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir: Path = tmp_path_factory.mktemp("schemathesis")
    svc = open_services(data_dir, max_upload_bytes=10_000_000)
    try:
        yield from build_world(svc)
    finally:
        svc.close()


def _operations(world: World) -> list[Any]:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", world.client.app)
    operations = []
    for result in loaded.get_all_operations():
        if isinstance(result, Err):  # a route the schema cannot describe
            raise AssertionError(f"the schema does not describe a route: {result.err()}")
        operations.append(result.ok())
    return operations


@pytest.mark.parametrize("who", ["admin", "reviewer"])
def test_no_server_error(world: World, who: str) -> None:
    """Every operation, fuzzed as `who`: nothing answers 5xx."""
    failures: list[str] = []
    statuses: dict[int, int] = {}
    real_ids = {"recording_id": world.own_rec, "case_no": OWN}
    operations = _operations(world)
    assert len(operations) > 30  # the schema was read, not an empty shell

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: schemathesis.Case[Any]) -> None:
            response = case.call(headers=world.auth(who))
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=[not_a_server_error])
            # Random ids mostly meet 404: send the same request at records that exist,
            # so the handlers behind the look-up get the generated queries and bodies too.
            known = {k: v for k, v in real_ids.items() if k in (case.path_parameters or {})}
            if known:
                case.path_parameters = {**(case.path_parameters or {}), **known}
                response = case.call(headers=world.auth(who))
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                case.validate_response(response, checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - the app's own error surfaces here, any type
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n".join(failures)
    # the generated requests got past authentication and reached handlers
    assert sum(n for code, n in statuses.items() if code < 300) > 20, statuses
