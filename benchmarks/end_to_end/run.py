"""Custos end to end against the bare tools doing the same work, same dump, same run.

    .venv/bin/python benchmarks/end_to_end/run.py [--minutes 10] [--keep DIR] [--threads 2]

The dump: the shared GRID talking-face clips looped, with speech (the shared English and
Mandarin recordings looped beside GRID's own) in several audio streams, as three files
that split --minutes of footage: 40 % 1080p H.264/AAC with two audio streams, 30 % 720p
MPEG-2/MP2 in an MPEG program stream, 30 % 360p H.264 with two audio streams.

Custos, as an operator runs it (the real `custos` command line, embedded default:
SQLite, a local folder, in-process workers):
  1. `custos ingest DUMP --no-process`   hash while reading, write-once store, probe, ledger
  2. `custos jobs --wait --threads N`    normalise, transcribe, detect (every recording)
  3. per video: `custos export`          default plan, render, exposure check, package
     (open findings are acknowledged with `custos acknowledge`, as an officer would after
     review, and the export repeated; their number is reported)
The bare tools, one after the other, doing the same work on the same files:
  1. `sha256sum`                          the originals' digests
  2. `ffmpeg` -> H.264/AAC mezzanine      libx264 at Custos' preset and CRF, every stream
  3. bare faster-whisper                  the same model, word timestamps, first audio stream
                                          of each file (faster-whisper reads only that one)
  4. the `deface` command line            blurred faces, libx264 at the same preset and CRF
Custos does more than the sum (a proxy, poster, sprite, audio for every stream, a second
transcription pass, tracking, the exposure check, a signed package); the comparison is
the work an agency needs done either way.

Reports footage seconds per wall second, CPU seconds per footage second, per-stage shares
(from the jobs table) and peak memory (the largest resident set of any process), for
both sides. Writes JSON to benchmarks/out/end_to_end.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
MEDIA = REPO.parent / "shared" / "media"  # --media moves it (a GPU host's copy)
BIN = Path(sys.executable).parent
CUSTOS = str(BIN / "custos")


@dataclass
class Step:
    name: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    detail: dict[str, Any] = field(default_factory=dict)


def run(name: str, cmd: list[str], env: dict[str, str] | None = None, *,
        ok: tuple[int, ...] = (0,), timeout: float = 7200) -> tuple[Step, str]:  # fmt: skip
    """Run one process; its wall time, user+system CPU and peak RSS (os.wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    out = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"{name} failed ({proc.returncode}): {' '.join(cmd)}\n{out[-3000:]}")
    if wall > timeout:
        raise SystemExit(f"{name} took {wall:.0f} s")
    step = Step(name, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
    return step, out


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=3600)


def make_dump(folder: Path, minutes: float, media: Path) -> list[Path]:
    """Three recordings that split `minutes` of footage (see the module's docstring)."""
    work = folder / "sources"
    work.mkdir(parents=True, exist_ok=True)
    grid = work / "grid.mp4"
    clips = [media / "av" / "grid_bbaf2n.mpg", media / "av" / "grid_lwbsza.mpg"]
    _ffmpeg(*[a for c in clips for a in ("-i", str(c))], "-filter_complex",
            "[0:v][0:a][1:v][1:a]concat=n=2:v=1:a=1[v][a]", "-map", "[v]", "-map", "[a]",
            "-r", "25", "-c:v", "libx264", "-preset", "fast", "-crf", "18", "-c:a", "aac",
            str(grid))  # fmt: skip
    speech = {}
    sources = {
        "en": ["jfk.flac", "librispeech-1995-1837-0001.wav"],
        "zh": ["aishell-BAC009S0724W0121.wav", "BAC009S0764W0121.wav"],
    }
    for lang, names in sources.items():
        paths = [media / "speech" / lang / n for n in names]
        if lang == "zh":
            paths += sorted((media / "speech" / "zh-tts").glob("seizure_*.wav"))
        inputs = [a for p in paths for a in ("-i", str(p))]
        parts = "".join(f"[{i}:a]aresample=16000,aformat=channel_layouts=mono,apad=pad_dur=1[s{i}];"
                        for i in range(len(paths)))  # fmt: skip
        joined = "".join(f"[s{i}]" for i in range(len(paths)))
        out = work / f"speech-{lang}.wav"
        _ffmpeg(*inputs, "-filter_complex", f"{parts}{joined}concat=n={len(paths)}:v=0:a=1[a]",
                "-map", "[a]", str(out))  # fmt: skip
        speech[lang] = out
    total = minutes * 60
    plan = [  # name, share, size, container args, extra audio stream
        ("bwc-1080p.mp4", 0.4, (1920, 1080), ["-c:v", "libx264", "-preset", "veryfast", "-crf",
         "23", "-c:a", "aac"], "en"),
        ("cctv-720p-mpeg2.mpg", 0.3, (1280, 720), ["-c:v", "mpeg2video", "-q:v", "5",
         "-c:a", "mp2", "-f", "mpeg"], None),
        ("interview-360p.mp4", 0.3, (640, 360), ["-c:v", "libx264", "-preset", "veryfast",
         "-crf", "23", "-c:a", "aac"], "zh"),
    ]  # fmt: skip
    dump = folder / "dump"
    dump.mkdir(exist_ok=True)
    made = []
    for name, share, (w, h), codec, extra in plan:
        seconds = round(total * share, 2)
        fit = f"scale=-2:{h},pad={w}:{h}:(ow-iw)/2:0,setsar=1"
        inputs = ["-stream_loop", "-1", "-i", str(grid)]
        maps = ["-map", "0:v", "-map", "0:a"]
        if extra:
            inputs += ["-stream_loop", "-1", "-i", str(speech[extra])]
            maps += ["-map", "1:a"]
        out = dump / name
        _ffmpeg(*inputs, "-t", f"{seconds}", *maps, "-vf", fit, "-r", "25", "-ar", "48000",
                *codec, str(out))  # fmt: skip
        made.append(out)
    return made


def footage_seconds(files: list[Path]) -> float:
    total = 0.0
    for f in files:
        done = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                               "-of", "csv=p=0", str(f)], capture_output=True, text=True,
                              check=True)  # fmt: skip
        total += float(done.stdout.strip())
    return total


# --- Custos -----------------------------------------------------------------------------


def custos_side(files: list[Path], data: Path, threads: int) -> tuple[list[Step], dict[str, Any]]:
    env = {**os.environ, "CUSTOS_DATA_DIR": str(data), "CUSTOS_ACTOR": "bench",
           "CUSTOS_LOCAL_TIMEZONE": "UTC"}  # fmt: skip
    for key in [k for k in env if k.startswith("CUSTOS_") and k not in
                ("CUSTOS_DATA_DIR", "CUSTOS_ACTOR", "CUSTOS_LOCAL_TIMEZONE",
                 "CUSTOS_WHISPER_MODEL")]:  # fmt: skip
        env.pop(key)  # the embedded default, whatever the shell had set
    dump = files[0].parent
    steps: list[Step] = []
    step, out = run("custos ingest", [CUSTOS, "ingest", str(dump), "--case", "E2E-1",
                                      "--no-process", "--json"], env)  # fmt: skip
    steps.append(step)
    receipt = json.loads(out[out.index("{") :])
    recordings = [e["recording_id"] for e in receipt["files"] if e.get("recording_id")]
    step, _ = run("custos jobs --wait", [CUSTOS, "jobs", "--wait", "--threads", str(threads)], env)
    steps.append(step)
    _, out = run("jobs table", [CUSTOS, "jobs", "--json"], env)
    jobs = json.loads(out[out.index("[") :])
    failed = [j for j in jobs if j["status"] != "done"]
    if failed:
        raise SystemExit(f"jobs not done: {failed}")
    per_stage: dict[str, float] = {}
    for j in jobs:
        took = datetime.fromisoformat(j["finished_at"]) - datetime.fromisoformat(j["started_at"])
        per_stage[j["stage"]] = round(per_stage.get(j["stage"], 0.0) + took.total_seconds(), 2)
    exports: list[Step] = []
    acknowledged = 0
    for rec in recordings:
        package = data / f"{rec}.zip"
        step, out = run("custos export", [CUSTOS, "export", rec, "--purpose", "public",
                        "--recipient", "bench", "--out", str(package), "--json"], env,
                        ok=(0, 3))  # fmt: skip
        exports.append(step)
        if not package.exists():  # findings open (exit 3): acknowledged after review
            _, shown = run("custos render", [CUSTOS, "render", rec, "--json"], env)
            render = json.loads(shown[shown.index("{") :])
            for f in render["findings"]:
                if f["state"] == "open":
                    step, _ = run("custos acknowledge", [CUSTOS, "acknowledge", rec, str(f["id"]),
                                  "--reason", "reviewed"], env)  # fmt: skip
                    exports.append(step)
                    acknowledged += 1
            step, _ = run("custos export", [CUSTOS, "export", rec, "--purpose", "public",
                          "--recipient", "bench", "--out", str(package)], env)  # fmt: skip
            exports.append(step)
        step, _ = run("custos verify", [CUSTOS, "verify", str(package)], env)  # not timed work
    steps.append(Step("custos export (all)", sum(s.wall_s for s in exports),
                      sum(s.cpu_s for s in exports), max(s.peak_rss_mb for s in exports),
                      {"processes": len(exports),
                       "findings_acknowledged": acknowledged}))  # fmt: skip
    return steps, {"stage_seconds": per_stage, "recordings": len(recordings), "jobs": len(jobs)}


# --- bare tools -------------------------------------------------------------------------

WHISPER_BARE = r"""
import sys, json
from faster_whisper import WhisperModel
model = WhisperModel(sys.argv[1], device="cpu", compute_type="int8", cpu_threads=int(sys.argv[2]))
words = 0
for path in sys.argv[3:]:
    segments, info = model.transcribe(path, word_timestamps=True)
    for s in segments:
        words += len(s.words or [])
print(json.dumps({"words": words}))
"""


def bare_side(
    files: list[Path], out: Path, preset: str, crf: int, model: Path, threads: int
) -> list[Step]:
    out.mkdir(parents=True, exist_ok=True)
    steps = [run("sha256sum", ["sha256sum", *map(str, files)])[0]]
    encodes = []
    for f in files:
        encodes.append(run("ffmpeg mezzanine", [
            "ffmpeg", "-v", "error", "-y", "-i", str(f), "-map", "0:v:0", "-map", "0:a",
            "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-movflags", "+faststart",
            str(out / f"{f.stem}-mezz.mp4")])[0])  # fmt: skip
    steps.append(_sum("ffmpeg mezzanine", encodes))
    step, text = run("bare faster-whisper", [sys.executable, "-c", WHISPER_BARE, str(model),
                                             str(threads), *map(str, files)])  # fmt: skip
    step.detail = json.loads(text.strip().splitlines()[-1])
    steps.append(step)
    config = {"codec": "libx264", "pixelformat": "yuv420p", "macro_block_size": 1,
              "output_params": ["-preset", preset, "-crf", str(crf)]}  # fmt: skip
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    defaced = [run("deface", [str(BIN / "deface"), str(f), "-o", str(out / f"{f.stem}-deface.mp4"),
                               "--ffmpeg-config", json.dumps(config)], env)[0]
               for f in files]  # fmt: skip
    steps.append(_sum("deface", defaced))
    return steps


def _sum(name: str, parts: list[Step]) -> Step:
    return Step(name, sum(p.wall_s for p in parts), sum(p.cpu_s for p in parts),
                max(p.peak_rss_mb for p in parts), {"processes": len(parts)})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="footage in the dump")
    parser.add_argument("--threads", type=int, default=2, help="embedded worker threads")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "end_to_end.json")
    parser.add_argument("--media", type=Path, default=MEDIA, help="the shared media folder")
    parser.add_argument(
        "--custos-only",
        action="store_true",
        help="skip the bare tools (a GPU run measures them on their own)",
    )
    args = parser.parse_args()
    if not (args.media / "av").is_dir():
        raise SystemExit(f"the shared media are not at {args.media} (--media DIR)")
    from ingest.ffmpeg_cmd import EncodeOptions
    from models.speech.whisper import cpu_threads, resolve_model
    from storage.config import Settings

    encode = EncodeOptions()
    settings = Settings(data_dir=Path(tempfile.gettempdir()))
    root = args.keep or Path(tempfile.mkdtemp(prefix="custos-e2e-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        files = make_dump(root, args.minutes, args.media)
        footage = footage_seconds(files)
        print(f"dump: {len(files)} files, {footage:.0f} s of footage in {root / 'dump'}")
        custos_steps, custos_info = custos_side(files, root / "custos-data", args.threads)
        bare_steps: list[Step] = []
        if not args.custos_only:
            # The same model folder Custos assembled, on as many CPU threads as it uses.
            model = resolve_model(settings.whisper_model, root / "custos-data" / "models")
            bare_steps = bare_side(files, root / "bare", encode.preset, encode.crf, model.path,
                                   cpu_threads())  # fmt: skip
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    def summary(steps: list[Step]) -> dict[str, Any]:
        if not steps:
            return {"skipped": "--custos-only"}
        wall = sum(s.wall_s for s in steps)
        cpu = sum(s.cpu_s for s in steps)
        return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                "footage_s_per_wall_s": round(footage / wall, 3),
                "cpu_s_per_footage_s": round(cpu / footage, 3),
                "peak_rss_mb": round(max(s.peak_rss_mb for s in steps), 1),
                "steps": [asdict(s) for s in steps],
                "shares": {s.name: round(s.wall_s / wall, 3) for s in steps}}  # fmt: skip

    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },  # fmt: skip
        "minutes": args.minutes,
        "footage_s": round(footage, 2),
        "files": [f.name for f in files],
        "encode": {"preset": encode.preset, "crf": encode.crf},
        "whisper_model": settings.whisper_model,
        "custos": {**summary(custos_steps), **custos_info},
        "bare": summary(bare_steps),
    }
    result["ratio_bare_wall_over_custos_wall"] = (
        round(result["bare"]["wall_s"] / result["custos"]["wall_s"], 3) if bare_steps else None
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for side in ("custos", "bare") if bare_steps else ("custos",):
        s = result[side]
        print(
            f"{side:7} {s['wall_s']:8.1f} s wall  {s['cpu_s']:8.1f} s CPU  "
            f"{s['footage_s_per_wall_s']:.3f} footage s/wall s  "
            f"{s['cpu_s_per_footage_s']:.2f} CPU s/footage s  peak {s['peak_rss_mb']:.0f} MB"
        )
        for step in s["steps"]:
            print(
                f"    {step['name']:24} {step['wall_s']:8.1f} s  ({s['shares'][step['name']]:.0%})"
            )
    print("custos stage seconds (jobs table):", json.dumps(result["custos"]["stage_seconds"]))
    if bare_steps:
        print(f"bare tools' wall / Custos wall: {result['ratio_bare_wall_over_custos_wall']:.2f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
