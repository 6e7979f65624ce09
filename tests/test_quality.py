"""The project's own rules, checked like any other test: ruff (lint and format), mypy strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ["storage", "ingest", "models", "cases", "disclosure", "workers", "api"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=900
    )


def test_ruff_lint() -> None:
    done = _run("ruff", "check", ".")
    assert done.returncode == 0, done.stdout[-5000:]


def test_ruff_format() -> None:
    done = _run("ruff", "format", "--check", ".")
    assert done.returncode == 0, done.stdout[-5000:]


@pytest.mark.slow
def test_mypy_strict() -> None:
    done = _run("mypy", *PACKAGES)
    assert done.returncode == 0, done.stdout[-5000:]
