"""Every command names a recording the same way: id, id prefix, SHA-256 prefix, file name."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from storage.config import Settings, get_settings
from storage.services import Services
from tests.factories import make_recording


@pytest.fixture
def svc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    data = tmp_path / "data"
    for name in [k for k in os.environ if k.startswith("CUSTOS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CUSTOS_DATA_DIR", str(data))
    monkeypatch.setenv("CUSTOS_ACTOR", "clerk")
    get_settings.cache_clear()
    opened = Services.open(Settings(data_dir=data, actor="clerk"))
    yield opened
    opened.close()
    get_settings.cache_clear()


def _add(svc: Services, name: str, rec_id: str | None = None, **fields: object) -> tuple[str, str]:
    rec = make_recording(
        svc.store, f"{name} {uuid.uuid4()}".encode(), original_name=name, id=rec_id, **fields
    )
    rec_id, sha = rec.id, rec.sha256
    svc.db.run(lambda session: session.add(rec))
    return rec_id, sha


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _commands(ref: str) -> list[list[str]]:
    return [
        ["transcript", ref],
        ["tracks", ref],
        ["reprocess", ref, "--stage", "normalise"],
        ["hold", "set", ref, "--reason", "appeal"],
        ["retention", "dispose", ref, "--approved-by", "chief", "--reason", "due"],
        ["case", "link", ref, "--step", "NO-SUCH-STEP"],
    ]


def test_every_command_takes_the_names_the_receipt_shows(svc: Services) -> None:
    rec_id, sha = _add(svc, "DSJ-01_20240514140000_0001.MP4")
    for ref in (rec_id, rec_id[:8], sha[:10], sha[:10].upper(), "DSJ-01_20240514140000_0001.MP4"):
        for command in _commands(ref):
            code, out = _run(*command)
            assert "no recording" not in out, (command, out)
            assert "names more than one" not in out, (command, out)
            assert "Traceback" not in out, (command, out)
        # Each command found it and went on to its own answer.
        assert rec_id in _run("transcript", ref)[1]
        assert rec_id in _run("tracks", ref)[1]


def test_an_unknown_name_is_one_line_and_exit_1(svc: Services) -> None:
    _add(svc, "a.mp4")
    for command in _commands("nothing.mp4"):
        code, out = _run(*command)
        assert code == 1, (command, out)
        assert "no recording 'nothing.mp4'" in out, (command, out)
        assert len(out.strip().splitlines()) == 1, out


def test_an_ambiguous_name_lists_the_candidates_and_exits_2(svc: Services) -> None:
    a, _ = _add(svc, "0001.MP4", rec_id="abcdef12-0000-4000-8000-000000000001")
    b, _ = _add(svc, "0001.MP4", rec_id="abcdef34-0000-4000-8000-000000000002")
    for ref in ("0001.MP4", "abcdef"):
        for command in _commands(ref):
            code, out = _run(*command)
            assert code == 2, (command, out)
            assert a[:8] in out and b[:8] in out, (command, out)
    # More characters settle it.
    assert a in _run("transcript", "abcdef1")[1]


def test_the_path_it_was_ingested_from_names_it(svc: Services, tmp_path: Path) -> None:
    from ingest.sample_dump import make_sample_dump

    dump = tmp_path / "dump"
    make_sample_dump(dump, seconds=1.0)
    code, out = _run("ingest", str(dump), "--no-process")
    assert code == 0, out
    mp4 = sorted(p for p in dump.rglob("*") if p.suffix.lower() == ".mp4")[0]
    code, out = _run("tracks", str(mp4))
    assert "no recording" not in out, out
