"""Normalise through Custos against the equivalent bare ffmpeg command, same file, same run.

    .venv/bin/python benchmarks/pipeline/normalise_vs_ffmpeg.py [--seconds 25] [--repeat 3]
        [--size 1920x1080] [--source mpeg2|h264] [--gpu] [--naive]

Generates one 1080p recording (testsrc2 + sine; MPEG-2/MP2 by default, so the mezzanine
must be encoded, or H.264/AAC to measure the stream-copy path), then alternates:

- mezzanine only: `run_normalise(outputs=("mezzanine",))` vs the ffmpeg command a person
  would type (libx264 veryfast crf 20, AAC, +faststart);
- full set: `run_normalise()` (mezzanine, proxy, poster, thumbs + VTT, 16 kHz audio)
  vs bare ffmpeg running the very same single-pass command, so the ratio is Custos'
  own overhead (probe, hashing, write-once store, database rows, ledger);
- with --naive, also the same outputs made by five separate ffmpeg runs (one per output),
  which is what the single-pass filter graph saves.

Each Custos run gets a fresh data folder (otherwise the second run would find its
outputs and do nothing). Reports best-of-N and median wall times, CPU seconds (this
process plus its ffmpeg children: steadier than wall time on a shared machine) and
the ratios peer/Custos (goal: 0.95 or better). --gpu uses h264_nvenc for both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from ingest import ffmpeg_cmd as cmd  # noqa: E402
from ingest.normalise import NormaliseParams, probe, run_normalise  # noqa: E402
from storage.config import Settings  # noqa: E402
from storage.db.schema import Recording  # noqa: E402
from storage.services import Services  # noqa: E402

QUIET = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


def make_source(path: Path, seconds: float, size: str, source: str) -> None:
    lavfi = ["-f", "lavfi", "-i", f"testsrc2=s={size}:r=25:d={seconds}"]
    lavfi += ["-f", "lavfi", "-i", f"sine=f=440:sample_rate=48000:d={seconds}"]
    if source == "h264":
        codec = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
        codec += ["-c:a", "aac", "-f", "mp4"]
    else:
        codec = ["-c:v", "mpeg2video", "-q:v", "3", "-c:a", "mp2", "-b:a", "192k", "-f", "mpeg"]
    subprocess.run([*QUIET, *lavfi, *codec, "-shortest", str(path)], check=True)


def add_recording(svc: Services, path: Path) -> str:
    with path.open("rb") as handle:
        put = svc.store.put_content_addressed(handle)
    recording_id = str(uuid.uuid4())
    with svc.db.session() as session:
        session.add(
            Recording(
                id=recording_id,
                sha256=put.digests["sha256"],
                size=put.size,
                object_key=put.key,
                original_name=path.name,
                media_kind="video",
                status="stored",
                ingested_at=datetime.now(UTC),
                ingested_by="bench",
                probe={},
                missing_fields=[],
                device_kind="other",
                incomplete=False,
                legal_hold=False,
            )
        )
    return recording_id


def _cpu() -> float:
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (this process plus its ffmpeg children).

    CPU time is the steadier measure on a shared machine: other users' load stretches
    wall time but not the work done.
    """
    cpu, start = _cpu(), time.perf_counter()
    fn()
    return time.perf_counter() - start, _cpu() - cpu


def run_bare(commands: list[list[str]]) -> None:
    for args in commands:
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bare_mezzanine(src: Path, out: Path, encoder: str, copy: bool = False) -> list[str]:
    """What a person would type: a remux for a browser-ready source, else an encode."""
    if copy:
        return [*QUIET, "-i", str(src), "-c", "copy", "-movflags", "+faststart", str(out)]
    if encoder == "h264_nvenc":
        video = ["-c:v", "h264_nvenc", "-preset", "p4", "-rc", "vbr", "-cq", "23", "-b:v", "0"]
    else:
        video = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20"]
    audio = ["-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart"]
    return [*QUIET, "-i", str(src), *video, "-pix_fmt", "yuv420p", *audio, str(out)]


def naive_commands(
    src: Path, out: Path, info: cmd.MediaInfo, encoder: str, copy: bool
) -> list[list[str]]:
    """The same outputs the way a script without a filter graph makes them: five decodes."""
    duration = info.duration_s or 0.0
    opts = cmd.EncodeOptions(video_encoder=encoder)
    grid = cmd.thumb_grid(duration, info.video.display_size if info.video else (16, 9), opts)
    rate = f"{grid.rate.numerator}/{grid.rate.denominator}"
    thumbs = f"fps={rate},scale={grid.tile_width}:{grid.tile_height},"
    thumbs += f"tile={grid.columns}x{grid.rows}"
    inp = [*QUIET, "-i", str(src)]
    return [
        bare_mezzanine(src, out / "m.mp4", encoder, copy),
        [*inp, "-vf", "scale=-2:360", "-c:v", "libx264", "-preset", "superfast", "-crf", "28"]
        + ["-c:a", "aac", "-b:a", "64k", "-ac", "1", "-movflags", "+faststart", str(out / "p.mp4")],
        [*QUIET, "-ss", f"{duration * 0.1:.3f}", "-i", str(src), "-frames:v", "1"]
        + [str(out / "poster.jpg")],
        [*inp, "-vf", thumbs, "-frames:v", "1", str(out / "t.jpg")],
        [*inp, "-vn", "-ac", "1", "-ar", "16000", str(out / "a.wav")],
    ]


def summarise(times: list[float]) -> dict[str, float]:
    return {"best_s": round(min(times), 3), "median_s": round(statistics.median(times), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--source", choices=("mpeg2", "h264"), default="mpeg2")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gpu", action="store_true", help="h264_nvenc on both sides")
    parser.add_argument("--naive", action="store_true", help="also time 5 separate runs")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    args = parser.parse_args()

    encoder = "h264_nvenc" if args.gpu else "libx264"
    work = Path(tempfile.mkdtemp(prefix="custos-normalise-bench-", dir=args.workdir))
    try:
        src = work / ("source.mpg" if args.source == "mpeg2" else "source.mp4")
        print(f"generating {args.seconds:g} s {args.size} {args.source} source ...", flush=True)
        make_source(src, args.seconds, args.size, args.source)
        info = probe(src, timeout_s=60)
        opts = cmd.EncodeOptions(video_encoder=encoder)
        plan = cmd.plan_normalise(info, opts)
        bare_out = work / "bare"
        bare_out.mkdir()
        full_args = cmd.normalise_args(src, bare_out, info, plan, opts, progress=False)
        params_full = NormaliseParams(encode=opts)
        params_mezz = NormaliseParams(encode=opts, outputs=("mezzanine",))

        def custos(params: NormaliseParams) -> tuple[float, float]:
            data = Path(tempfile.mkdtemp(prefix="data-", dir=work))
            svc = Services.open(Settings(data_dir=data, actor="bench"))
            try:
                recording_id = add_recording(svc, src)
                return timed(lambda: run_normalise(svc, recording_id, params, lambda _: None))
            finally:
                svc.close()
                shutil.rmtree(data, ignore_errors=True)

        names = ("bare_mezz", "custos_mezz", "bare_full", "custos_full", "naive_full")
        times: dict[str, list[float]] = {k: [] for k in names}
        cpu: dict[str, list[float]] = {k: [] for k in names}
        copy = plan.copy_video and plan.copy_audio
        naive = naive_commands(src, bare_out, info, encoder, copy)
        mezz_args = bare_mezzanine(src, bare_out / "m.mp4", encoder, copy)

        def bare(commands: list[list[str]]) -> Callable[[], tuple[float, float]]:
            return lambda: timed(lambda: run_bare(commands))

        for i in range(args.repeat):
            # Alternate which side goes first so neither always gets the warmer cache.
            pairs: list[tuple[str, Callable[[], tuple[float, float]]]] = [
                ("bare_mezz", bare([mezz_args])),
                ("custos_mezz", lambda: custos(params_mezz)),
                ("bare_full", bare([full_args])),
                ("custos_full", lambda: custos(params_full)),
            ]
            if args.naive:
                pairs.append(("naive_full", bare(naive)))
            if i % 2:
                pairs = pairs[1::-1] + pairs[3:1:-1] + pairs[4:]
            for name, fn in pairs:
                elapsed, used = fn()
                times[name].append(elapsed)
                cpu[name].append(used)
                print(f"  run {i + 1}: {name:12s} {elapsed:7.2f} s wall {used:7.2f} s cpu")

        result: dict[str, Any] = {
            "benchmark": "normalise_vs_ffmpeg",
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "load_avg_1m": os.getloadavg()[0],
            "ffmpeg": subprocess.run(
                ["ffmpeg", "-version"], capture_output=True, text=True
            ).stdout.split("\n")[0],
            "source": {
                "codec": args.source,
                "size": args.size,
                "seconds": args.seconds,
                "bytes": src.stat().st_size,
            },
            "encoder": encoder,
            "copied": {"video": plan.copy_video, "audio": plan.copy_audio},
            "repeat": args.repeat,
            "times": {k: summarise(v) for k, v in times.items() if v},
            "cpu": {k: summarise(v) for k, v in cpu.items() if v},
            "raw_wall_s": {k: [round(t, 3) for t in v] for k, v in times.items() if v},
            "raw_cpu_s": {k: [round(t, 3) for t in v] for k, v in cpu.items() if v},
        }
        pairs_to_compare = [
            ("mezzanine", "bare_mezz", "custos_mezz"),
            ("full", "bare_full", "custos_full"),
            ("full_naive", "naive_full", "custos_full"),
        ]
        ratios: dict[str, float] = {}
        for label, peer, ours in pairs_to_compare:
            if times[peer]:
                ratios[f"{label}_wall"] = min(times[peer]) / min(times[ours])
                ratios[f"{label}_cpu"] = min(cpu[peer]) / min(cpu[ours])
        result["ratios_bare_over_custos"] = {k: round(v, 3) for k, v in ratios.items()}
        result["goal"] = 0.95

        print()
        print(f"{'':14s} {'best wall':>10s} {'median wall':>12s} {'best cpu':>9s}")
        for name, stats in result["times"].items():
            best_cpu = result["cpu"][name]["best_s"]
            print(f"{name:14s} {stats['best_s']:10.2f} {stats['median_s']:12.2f} {best_cpu:9.2f}")
        print("ratios, peer over Custos (goal 0.95 or better; naive is a reference):")
        for name, value in result["ratios_bare_over_custos"].items():
            verdict = "" if name.startswith("full_naive") else ("ok" if value >= 0.95 else "below")
            print(f"  {name:18s} {value:6.3f}x  {verdict}")
        args.out.mkdir(parents=True, exist_ok=True)
        suffix = f"-{args.source}" + ("-gpu" if args.gpu else "")
        target = args.out / f"normalise_vs_ffmpeg{suffix}.json"
        target.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {target}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
