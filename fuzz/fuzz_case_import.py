"""Fuzz the case importer's reader (cases/importer.py `read_documents`): any bytes, as
YAML or JSON, either parse into validated case documents or are refused with a
CaseFileError that says why; nothing else escapes, nothing hangs."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import _common  # noqa: F401 - puts the repository on sys.path
import atheris
import pydantic  # noqa: F401
import sqlalchemy  # noqa: F401

# Dependencies first, uninstrumented (instrumenting SQLAlchemy and pydantic costs 20 s of
# start-up); then the importer, instrumented.
import cases.links  # noqa: F401, I001
import cases.repo  # noqa: F401
import cases.tables  # noqa: F401
from cases.errors import CaseFileError

with atheris.instrument_imports():
    from cases.importer import read_documents

_DIR = Path(tempfile.mkdtemp(prefix="custos-fuzz-case-"))
# Seeds the mutator can build on: a valid case in each format.
SEEDS = (
    b"case: {case_no: C-1, title: t}\nsteps:\n- {key: s1, kind: seizure, "
    b"start: '2026-11-03 14:15:00'}\nlinks: []\n",
    b'{"case": {"case_no": "C-1"}, "steps": [{"key": "s1", "kind": "x", '
    b'"start": "2026-11-03T14:15:00+08:00"}]}',
)


def check(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    use_seed = fdp.ConsumeIntInRange(0, 3)
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    if use_seed < len(SEEDS):
        body = SEEDS[use_seed] + body
    suffix = ".json" if use_seed % 2 else ".yaml"
    path = _DIR / f"case{suffix}"
    path.write_bytes(body)
    try:
        docs = read_documents(path)
    except CaseFileError as exc:
        assert str(exc), "a refusal must say why"
        return
    assert docs and all(d.case.case_no for d in docs)


def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
