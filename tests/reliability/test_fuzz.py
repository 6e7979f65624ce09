"""atheris fuzzing of the file-name parser, the sniffer (with acquisition's
classification) and the case importer: a few seconds each here and in CI (longer on
demand: `python fuzz/fuzz_filenames.py -max_total_time=600`), plus the inputs the fuzzer
found, replayed through the same harnesses so they stay fixed."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cases.errors import CaseFileError
from cases.importer import read_documents
from tests.needs import unavailable
from tests.reliability.procs import LAUNCHER, REPO

FUZZ = REPO / "fuzz"
SECONDS = int(os.environ.get("RELIABILITY_FUZZ_SECONDS", "6"))
HARNESSES = ["fuzz_filenames.py", "fuzz_sniff.py", "fuzz_case_import.py"]


def _harness(name: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec("atheris") is None:
        unavailable("atheris is not installed (pip install -e '.[test]')")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    # Through the small launcher: libFuzzer's RSS limit reads the process's high-water
    # mark, which a child forked from a large pytest process inherits (every harness ran
    # "out of memory" late in a full run, and passed alone).
    return subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, str(tmp_path / "peakrss"), sys.executable,
         str(FUZZ / name), "-timeout=5", "-rss_limit_mb=1536",
         f"-artifact_prefix={tmp_path}/", *args],
        capture_output=True, text=True, timeout=SECONDS + 120, env=env, cwd=tmp_path,
    )  # fmt: skip


@pytest.mark.parametrize("name", HARNESSES)
def test_fuzz_for_a_bounded_time(name: str, tmp_path: Path) -> None:
    done = _harness(name, tmp_path, f"-max_total_time={SECONDS}")
    found = sorted(p.name for p in tmp_path.glob("*-*") if p.is_file())
    assert done.returncode == 0 and not found, done.stderr[-4000:]
    runs = [line for line in done.stderr.splitlines() if line.startswith("Done ")]
    assert runs, done.stderr[-2000:]
    print(f"figures: {name}: {runs[-1]}")


# What fuzz_case_import.py found (and cases/importer.py now refuses with a reason).
FOUND = {
    "not-utf8.yaml": b"\xb0\n\n:",  # UnicodeDecodeError escaped read_documents
    "deep.json": b'{"case": {"case_no": "C", "extra": {"a": ' + b"[" * 100_000
    + b"]" * 100_000 + b"}}}",
    "deep.yaml": b"case: {case_no: C, extra: {a: " + b"[" * 100_000 + b"]" * 100_000 + b"}}",
    # 373 bytes of YAML whose aliases expand to 43 million values (480 MB as JSON).
    "laughs.yaml": (
        "case: {case_no: C, extra: {a: &a [x,x,x,x,x,x,x,x,x], "
        + ", ".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]"
                    for i in range(7))
        + ", bomb: *h}}\n"
    ).encode(),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(FOUND))
def test_found_inputs_are_refused_with_a_reason(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(FOUND[name])
    with pytest.raises(CaseFileError) as refused:
        read_documents(path)
    assert str(path) in str(refused.value)


def test_the_harness_replays_what_it_found(tmp_path: Path) -> None:
    """The crash file libFuzzer wrote for the first finding (base64 sAoKOg==), replayed:
    it made the harness fail before the fix (UnicodeDecodeError escaped)."""
    crash = tmp_path / "crash-85cdd7d01d419e556f50897e8c797815fc575c6e"
    crash.write_bytes(b"\xb0\n\n:")
    done = _harness("fuzz_case_import.py", tmp_path, str(crash))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Executed" in done.stderr, done.stderr[-2000:]
