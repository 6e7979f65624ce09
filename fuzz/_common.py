"""Shared by the fuzz harnesses: run from the repository root or from fuzz/.

Each harness is a libFuzzer program (atheris). Bounded in CI by tests/reliability/
test_fuzz.py (a few seconds each); longer on demand, e.g.

    .venv/bin/python fuzz/fuzz_filenames.py -max_total_time=600
    .venv/bin/python fuzz/fuzz_case_import.py -max_total_time=600 -artifact_prefix=/tmp/

A finding is an uncaught exception, a time-out (-timeout=N seconds per input) or a
memory blow-up (-rss_limit_mb); libFuzzer writes the input that caused it to a crash-*
file, which the harness replays when given that file as its argument.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
