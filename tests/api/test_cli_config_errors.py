"""A mistake in the settings is one line naming the variable, its value and the fix; exit 2.

Run as a new user runs them: a fresh `custos` process each time, so nothing imported
earlier in the test process hides a module that reads the settings on import.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = [
    ["jobs"],
    ["worker"],
    ["reprocess", "abcdef12", "--stage", "normalise"],
    ["fixity"],
    ["ledger", "verify"],
    ["tracks", "abcdef12"],
    ["retention", "due"],
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens there once the socket is closed


def _custos(tmp_path: Path, extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    env["CUSTOS_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return subprocess.run(
        [sys.executable, "-m", "api", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


def _one_line(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    out = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, out
    assert "Traceback" not in out and len(out.splitlines()) == 1, out
    for text in expected:
        assert text in out, out


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_unknown_setting_for_every_command(tmp_path: Path, command: list[str]) -> None:
    _one_line(_custos(tmp_path, {"CUSTOS_FOO": "1"}, *command), "CUSTOS_FOO")


BAD_VALUES = [
    ({"CUSTOS_REDIS_URL": "notaurl"}, ["CUSTOS_REDIS_URL", "notaurl", "redis://"]),
    ({"CUSTOS_LOCAL_TIMEZONE": "Mars/Olympus"}, ["CUSTOS_LOCAL_TIMEZONE", "Mars/Olympus"]),
    ({"CUSTOS_DATA_DIR": ""}, ["CUSTOS_DATA_DIR", "empty"]),
    ({"CUSTOS_OBJECT_STORE": "s3"}, ["CUSTOS_OBJECT_STORE=s3", "CUSTOS_S3_ENDPOINT"]),
    (
        {"CUSTOS_DATABASE_URL": "mysql://root:secret@db/custos"},
        ["CUSTOS_DATABASE_URL", "mysql://", "postgresql://"],
    ),
    ({"CUSTOS_WORKER_HEARTBEAT_S": "-5"}, ["CUSTOS_WORKER_HEARTBEAT_S", "-5", "greater than 0"]),
    ({"CUSTOS_WORKER_HEARTBEAT_S": "0"}, ["CUSTOS_WORKER_HEARTBEAT_S", "greater than 0"]),
    ({"CUSTOS_FFMPEG_TIMEOUT_BASE_S": "0"}, ["CUSTOS_FFMPEG_TIMEOUT_BASE_S"]),
    ({"CUSTOS_RETENTION_DAYS": "-1"}, ["CUSTOS_RETENTION_DAYS", "-1"]),
]


@pytest.mark.parametrize(("extra", "expected"), BAD_VALUES, ids=lambda v: str(v)[:40])
def test_bad_values_name_the_variable(
    tmp_path: Path, extra: dict[str, str], expected: list[str]
) -> None:
    for command in (["jobs"], ["reprocess", "abcdef12", "--stage", "normalise"]):
        done = _custos(tmp_path, extra, *command)
        _one_line(done, *expected)
        assert "secret" not in done.stderr


def test_data_dir_naming_a_file(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    _one_line(
        _custos(tmp_path, {"CUSTOS_DATA_DIR": str(a_file)}, "jobs"),
        "CUSTOS_DATA_DIR",
        str(a_file),
        "not a folder",
    )


def test_s3_with_no_server_fails_fast(tmp_path: Path) -> None:
    extra = {"CUSTOS_OBJECT_STORE": "s3", "CUSTOS_S3_ENDPOINT": f"127.0.0.1:{_free_port()}"}
    done = _custos(tmp_path, extra, "jobs")
    _one_line(done, "CUSTOS_S3_ENDPOINT", extra["CUSTOS_S3_ENDPOINT"], "no S3 server")


def test_postgres_refused_port_and_scheme(tmp_path: Path) -> None:
    url = f"postgres://someone:secret@127.0.0.1:{_free_port()}/custos"
    done = _custos(tmp_path, {"CUSTOS_DATABASE_URL": url}, "jobs")
    # postgres:// is taken as postgresql:// (it reaches the connection, not a plugin error)
    _one_line(done, "CUSTOS_DATABASE_URL", "cannot open the database", "refused")
    assert "secret" not in done.stderr


def test_postgres_database_that_does_not_exist(tmp_path: Path) -> None:
    from tests.conftest import PG_ADMIN_URL, require_postgres

    require_postgres()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/custos_no_such_db"
    done = _custos(tmp_path, {"CUSTOS_DATABASE_URL": url}, "jobs")
    _one_line(done, "CUSTOS_DATABASE_URL", "does not exist", "createdb custos_no_such_db")
