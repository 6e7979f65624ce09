"""What a test needs from the machine: skip with the reason locally, fail in CI.

In CI (`CI=true`) the shared media, PostgreSQL, Redis, ffmpeg and Chromium are installed
by `.ci/run`; a test that cannot find one of them there is a broken run, not a skip.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def unavailable(reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)
