"""The whole Custos disclosure job against the `deface` command line, same clips, same run.

    .venv/bin/python benchmarks/disclosure/run.py [--seconds 4]
        [--cases grid@1920x1080,grid@640x360,pan@640x360] [--device cpu|cuda|auto]
        [--preset veryfast] [--crf 20] [--judge-max-side 1280] [--changed-threshold 12]

Clips are the ones benchmarks/detect/run.py makes (its `make_clip`): both GRID talking-face
clips back to back, looped to --seconds, scaled and padded to each size, and a camera pan
across a shared group photo. For each clip, on the same machine, one after the other:

- deface: the `deface` command line with --ffmpeg-config set to libx264 at the same preset
  and CRF as Custos (and macro_block_size 1, so 1080 rows stay 1080), timed as a process.
  Its start-up (imports, model load, frame count, encoder start) is measured on a
  one-frame clip of the same size: "steady" fps is (frames - 1) / (total - start-up);
- Custos: the disclosure job on the ingested clip, models loaded beforehand: detect +
  track (models.vision.detect_stage.run_detect), the default plan (disclosure.renders.
  refresh_plan), render + exposure check (disclosure.renders.render_recording with
  RenderOptions(libx264, preset, crf)), open findings acknowledged (what an officer would
  do after review; counted), and the public package (disclosure.export_flow.
  export_recording, which reuses that render). Ingest is not timed.

Judged by a detector that is neither tool's model (both use CenterFace): MTCNN from
facenet-pytorch (P/R/O-Net cascade, weights in the wheel) on every frame of the original
and of both outputs, frames fitted within --judge-max-side (MTCNN's image pyramid at full
1080p costs ~3 s a frame here). A face is exposed in an output frame when MTCNN finds it
with probability >= 0.9; frames where MTCNN finds a face in the original are given for
context. Over-redaction: per frame, the share of pixels whose value changed by more than
--changed-threshold (any channel, after a 5x5 box blur of both frames to damp encoder
noise) between the original and the output; the same measure of the original passed
through deface's own reader and writer with no redaction is the noise floor. "Outside
faces" counts only pixels outside the original's MTCNN boxes widened 1.5x.
Prints a table; writes JSON to benchmarks/out/disclosure-<device>.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from sqlalchemy import select  # noqa: E402

from disclosure.export_flow import export_recording  # noqa: E402
from disclosure.exposure_check import EXPOSURE_THRESHOLD  # noqa: E402
from disclosure.render import RenderOptions  # noqa: E402
from disclosure.renders import (  # noqa: E402
    FindingRow,
    acknowledge,
    refresh_plan,
    render_recording,
)
from ingest.acquire import CaptureMeta, ingest  # noqa: E402
from models.vision.detect import load_detector  # noqa: E402
from models.vision.detect_stage import DetectParams, build_detector, run_detect  # noqa: E402
from models.vision.video import decode_frames, fit_within  # noqa: E402
from storage.config import Settings  # noqa: E402
from storage.services import Services  # noqa: E402


def _detect_bench() -> ModuleType:
    """benchmarks/detect/run.py, for its clips (the same clips as that benchmark)."""
    path = REPO / "benchmarks" / "detect" / "run.py"
    spec = importlib.util.spec_from_file_location("custos_bench_detect", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DETECT = _detect_bench()
ACTOR = "bench"
JUDGE_PROB = 0.9
JUDGE_BATCH = 8
FACE_WIDEN = 1.5
RENDER_SHARE = 0.6  # render_recording reports 0-0.6 while rendering, then checks


# --- deface -------------------------------------------------------------------------


def deface_config(preset: str, crf: int) -> dict[str, Any]:
    """imageio-ffmpeg writer options: libx264 at `preset`/`crf`, no size rounding."""
    return {
        "codec": "libx264",
        "quality": None,  # else imageio adds its own -crf (quality 5: CRF 25)
        "macro_block_size": 1,  # else 1080 rows are scaled to 1088
        "pixelformat": "yuv420p",
        "output_params": ["-preset", preset, "-crf", str(crf)],
    }


def run_deface(src: Path, dst: Path, config: dict[str, Any], provider: str | None) -> float:
    cmd = ["deface", str(src), "-o", str(dst), "--ffmpeg-config", json.dumps(config)]
    if provider:
        cmd += ["--execution-provider", provider]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=3600, env=env)
    return time.perf_counter() - start


def passthrough(src: Path, dst: Path, config: dict[str, Any]) -> None:
    """The clip through deface's reader and writer with nothing replaced: the noise floor."""
    import imageio.v2 as imageio

    reader = imageio.get_reader(str(src))
    writer = imageio.get_writer(
        str(dst), format="FFMPEG", mode="I", fps=reader.get_meta_data()["fps"], **config
    )
    try:
        for frame in reader.iter_data():
            writer.append_data(frame)
    finally:
        reader.close()
        writer.close()


# --- Custos ---------------------------------------------------------------------------


def measure_custos(
    clip: Path, settings: Settings, options: RenderOptions, out_dir: Path
) -> tuple[dict[str, Any], Path]:
    svc = Services.open(settings)
    try:
        recording = ingest(svc, [clip], CaptureMeta(case_no="BENCH")).entries[0].recording_id
        assert recording is not None
        params = DetectParams()
        # Models loaded before timing, as deface's start-up is excluded from its steady fps.
        blank = [np.zeros((64, 64, 3), np.uint8)]
        build_detector(svc.settings, params).detect(blank)
        load_detector("centerface", svc.settings, threshold=EXPOSURE_THRESHOLD).detect(blank)
        times: dict[str, float] = {}
        start = time.perf_counter()
        summary = run_detect(svc, recording, params, lambda _: None)
        times["detect_s"] = time.perf_counter() - start

        start = time.perf_counter()
        plan = refresh_plan(svc, recording, author=ACTOR)
        times["plan_s"] = time.perf_counter() - start

        start = time.perf_counter()
        marks: list[float] = []  # when the render itself was done (progress reaches 0.6)

        def progress(share: float) -> None:
            if share >= RENDER_SHARE and not marks:
                marks.append(time.perf_counter())

        rendered = render_recording(svc, recording, actor=ACTOR, options=options,
                                    progress=progress)  # fmt: skip
        times["render_check_s"] = time.perf_counter() - start
        split = {"render_only_s": marks[0] - start} if marks else {}
        with svc.db.session() as session:
            rows = session.scalars(
                select(FindingRow).where(FindingRow.render_id == rendered.render_id)
            )
            flagged = sorted({int(n) for row in rows for n in row.frames or []})

        start = time.perf_counter()
        opened = rendered.open_findings
        for finding in opened:
            acknowledge(svc, recording, finding.id, actor=ACTOR,
                        reason="benchmark: counted, not reviewed")  # fmt: skip
        times["acknowledge_s"] = time.perf_counter() - start

        start = time.perf_counter()
        package = out_dir / f"package-{clip.stem}.zip"
        exported = export_recording(svc, recording, purpose="public", recipient="benchmark",
                                    out=package, actor=ACTOR)  # fmt: skip
        times["package_s"] = time.perf_counter() - start
        if exported.render_id != rendered.render_id:
            raise SystemExit("the export rendered again instead of reusing the timed render")

        output = out_dir / f"custos-{clip.name}"
        output.write_bytes(svc.store.get_bytes(rendered.object_key))
    finally:
        svc.close()
    times["total_s"] = sum(times.values())
    return {
        **times,
        **split,
        "detect_frames": summary["detect_frames"],
        "tracks": summary["tracks"],
        "plan_tracks": len(plan.plan.tracks),
        "rendered_frames": rendered.frames,
        "own_findings": len(rendered.findings),
        "own_finding_frames": sum(f.frames for f in rendered.findings),
        "own_flagged_frames": flagged,
        "acknowledged": len(opened),
        "package_bytes": package.stat().st_size,
    }, output


# --- judging ------------------------------------------------------------------------


@dataclass
class Judged:
    """What MTCNN and the pixel comparison saw in one video."""

    frames: int = 0
    face_frames: list[int] = field(default_factory=list)  # MTCNN >= JUDGE_PROB
    faces: int = 0
    max_prob: float = 0.0
    changed: list[float] = field(default_factory=list)  # share of the frame, per frame
    changed_outside: list[float] = field(default_factory=list)


def _frames(path: Path) -> Iterator[np.ndarray]:
    for frame in decode_frames(path):
        yield frame.rgb()


def _batches(paths: list[Path]) -> Iterator[list[list[np.ndarray]]]:
    """Frames of every video in step, JUDGE_BATCH at a time: [video][frame]."""
    streams = [_frames(p) for p in paths]
    while True:
        batch: list[list[np.ndarray]] = [[] for _ in paths]
        for _ in range(JUDGE_BATCH):
            try:
                row = [next(s) for s in streams]
            except StopIteration:
                break
            for n, picture in enumerate(row):
                batch[n].append(picture)
        if not batch[0]:
            return
        yield batch


def _faces(mtcnn: Any, pictures: list[np.ndarray], max_side: int | None) -> list[list[Any]]:
    """(box in full-frame pixels, prob) per picture, prob >= JUDGE_PROB only."""
    height, width = pictures[0].shape[:2]
    small_w, small_h = fit_within(width, height, max_side)
    scale = width / small_w
    small = pictures
    if small_w != width:
        small = [cv2.resize(p, (small_w, small_h), interpolation=cv2.INTER_AREA) for p in pictures]
    boxes, probs = mtcnn.detect(small)
    out: list[list[Any]] = []
    for found, prob in zip(boxes, probs, strict=True):
        if found is None:
            out.append([])
            continue
        out.append([(b * scale, float(p)) for b, p in zip(found, prob, strict=True)
                    if p is not None and p >= JUDGE_PROB])  # fmt: skip
    return out


def _changed(original: np.ndarray, output: np.ndarray, threshold: int) -> np.ndarray:
    a = cv2.blur(original, (5, 5)).astype(np.int16)
    b = cv2.blur(output, (5, 5)).astype(np.int16)
    changed: np.ndarray = np.abs(a - b).max(axis=2) > threshold
    return changed


def _face_mask(shape: tuple[int, int], faces: list[Any]) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for box, _ in faces:
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        hw, hh = FACE_WIDEN * (box[2] - box[0]) / 2, FACE_WIDEN * (box[3] - box[1]) / 2
        x1, y1 = max(0, int(cx - hw)), max(0, int(cy - hh))
        x2, y2 = min(shape[1], int(cx + hw) + 1), min(shape[0], int(cy + hh) + 1)
        mask[y1:y2, x1:x2] = True
    return mask


def judge(
    original: Path, outputs: dict[str, Path], control: Path, max_side: int | None, threshold: int
) -> dict[str, Judged]:
    """MTCNN on the original and each output; changed pixels of each output and the
    control against the original."""
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN(keep_all=True, device="cpu")
    names = ["original", *outputs, "control"]
    judged = {name: Judged() for name in names}
    paths = [original, *outputs.values(), control]
    index = 0
    for batch in _batches(paths):
        faces = {name: _faces(mtcnn, batch[n], max_side)
                 for n, name in enumerate(names) if name != "control"}  # fmt: skip
        for k, picture in enumerate(batch[0]):
            outside = ~_face_mask(picture.shape[:2], faces["original"][k])
            for n, name in enumerate(names):
                found = faces.get(name, [[]] * len(batch[0]))[k]
                got = judged[name]
                got.frames += 1
                if found:
                    got.face_frames.append(index + k)
                    got.faces += len(found)
                    got.max_prob = max(got.max_prob, max(p for _, p in found))
                if name == "original":
                    continue
                mask = _changed(picture, batch[n][k], threshold)
                got.changed.append(float(mask.mean()))
                got.changed_outside.append(float((mask & outside).mean()))
        index += len(batch[0])
    return judged


# --- driver ---------------------------------------------------------------------------


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def bench_clip(
    kind: str, size: tuple[int, int], args: argparse.Namespace, provider: str | None, work: Path
) -> dict[str, Any]:
    clip = DETECT.make_clip(kind, size, args.seconds, work)
    one = work / f"one-{clip.name}"
    DETECT._ffmpeg("-i", str(clip), "-frames:v", "1", "-c:v", "libx264", str(one))
    frames = DETECT.count_frames(clip)
    config = deface_config(args.preset, args.crf)
    options = RenderOptions(encoder="libx264", preset=args.preset, crf=args.crf)
    settings = Settings(data_dir=work / f"data-{clip.stem}", actor=ACTOR, device=args.device,
                        local_timezone="UTC")  # fmt: skip

    load_before = _load()
    deface_startup = run_deface(one, work / f"deface-one-{clip.name}", config, provider)
    deface_out = work / f"deface-{clip.name}"
    deface_s = run_deface(clip, deface_out, config, provider)
    ours, custos_out = measure_custos(clip, settings, options, work)
    load_after = _load()

    control = work / f"control-{clip.name}"
    passthrough(clip, control, config)
    start = time.perf_counter()
    seen = judge(clip, {"custos": custos_out, "deface": deface_out}, control,
                 args.judge_max_side or None, args.changed_threshold)  # fmt: skip
    judge_s = time.perf_counter() - start

    steady = max(deface_s - deface_startup, 1e-9)
    row: dict[str, Any] = {
        "clip": kind,
        "size": f"{size[0]}x{size[1]}",
        "frames": frames,
        "frames_out": {name: seen[name].frames for name in ("custos", "deface", "control")},
        "deface_s": deface_s,
        "deface_startup_s": deface_startup,
        "custos": ours,
        "fps_deface": frames / deface_s,
        "fps_deface_steady": (frames - 1) / steady,
        "fps_custos": frames / ours["total_s"],
        "fps_custos_detect": frames / ours["detect_s"],
        "load_before_after": [load_before, load_after],
        "judge_s": judge_s,
    }
    row["ratio"] = row["fps_custos"] / row["fps_deface_steady"]
    row["ratio_raw"] = row["fps_custos"] / row["fps_deface"]
    flagged = set(ours["own_flagged_frames"])
    row["exposed_custos_flagged_by_own_check"] = sum(
        1 for n in seen["custos"].face_frames if n in flagged
    )
    for name, got in seen.items():
        summary: dict[str, Any] = {}
        if name != "control":  # MTCNN does not look at the control
            summary["face_frames"] = len(got.face_frames)
            summary["faces"] = got.faces
            summary["max_prob"] = round(got.max_prob, 4)
            summary["first_face_frames"] = got.face_frames[:20]
        if got.changed:
            summary["changed_mean"] = float(np.mean(got.changed))
            summary["changed_max"] = float(np.max(got.changed))
            summary["changed_outside_mean"] = float(np.mean(got.changed_outside))
            summary["changed_outside_max"] = float(np.max(got.changed_outside))
        row[f"judged_{name}"] = summary
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--cases", default="grid@1920x1080,grid@640x360,pan@640x360")
    parser.add_argument("--preset", default=RenderOptions.preset, help="x264 preset, both tools")
    parser.add_argument("--crf", type=int, default=RenderOptions.crf, help="x264 CRF, both tools")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--judge-max-side", type=int, default=1280, help="MTCNN's frame size (0: full size)"
    )
    parser.add_argument(
        "--changed-threshold", type=int, default=12, help="obscured above this change (0-255)"
    )
    parser.add_argument("--keep", action="store_true", help="keep clips and outputs")
    args = parser.parse_args()
    if not (DETECT.MEDIA / DETECT.GRID[0]).exists():
        raise SystemExit(f"shared media not found at {DETECT.MEDIA}")

    provider = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}.get(args.device)
    work = Path(tempfile.mkdtemp(prefix="custos-bench-disclosure-"))
    cases = DETECT.parse_cases(args.cases)
    rows: list[dict[str, Any]] = []
    try:
        for kind, size in cases:
            rows.append(bench_clip(kind, size, args, provider, work))
            print_row(rows[-1])
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "device": args.device,
        "seconds": args.seconds,
        "encoder": {"codec": "libx264", "preset": args.preset, "crf": args.crf},
        "deface_ffmpeg_config": deface_config(args.preset, args.crf),
        "render_options": asdict(RenderOptions(preset=args.preset, crf=args.crf)),
        "judge": {
            "model": "facenet-pytorch MTCNN (keep_all, cpu)",
            "prob": JUDGE_PROB,
            "max_side": args.judge_max_side or None,
            "changed_threshold": args.changed_threshold,
            "face_widen": FACE_WIDEN,
        },
        "params": repr(DetectParams()),
        "rows": rows,
    }
    out = REPO / "benchmarks" / "out" / f"disclosure-{args.device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print_table(rows)
    print(f"\nwritten {out}")


def print_row(row: dict[str, Any]) -> None:
    c, d = row["judged_custos"], row["judged_deface"]
    print(
        f"{row['clip']} {row['size']}: deface {row['fps_deface_steady']:.1f} fps steady "
        f"(raw {row['fps_deface']:.1f}), custos job {row['fps_custos']:.1f} "
        f"(x{row['ratio']:.2f}); exposed {c['face_frames']} vs {d['face_frames']} "
        f"of {row['judged_original']['face_frames']} face frames",
        flush=True,
    )


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'clip':5} {'size':>9} {'frames':>6} {'deface fps':>10} {'(raw)':>6} "
        f"{'custos fps':>10} {'x deface':>8} {'orig face fr':>12} "
        f"{'exposed custos/deface':>21} {'own findings':>12} "
        f"{'obscured % c/d/floor':>20} {'outside faces % c/d':>19}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        c, d, k = r["judged_custos"], r["judged_deface"], r["judged_control"]
        obscured = (f"{100 * c['changed_mean']:.1f}/{100 * d['changed_mean']:.1f}/"
                    f"{100 * k['changed_mean']:.2f}")  # fmt: skip
        outside = f"{100 * c['changed_outside_mean']:.2f}/{100 * d['changed_outside_mean']:.2f}"
        print(
            f"{r['clip']:5} {r['size']:>9} {r['frames']:>6} {r['fps_deface_steady']:>10.1f} "
            f"{r['fps_deface']:>6.1f} {r['fps_custos']:>10.1f} {r['ratio']:>8.2f} "
            f"{r['judged_original']['face_frames']:>12} "
            f"{c['face_frames']:>10}/{d['face_frames']:<10} {r['custos']['own_findings']:>12} "
            f"{obscured:>20} {outside:>19}"
        )
    print(
        "\nfps: frames / wall seconds. deface steady: its start-up (one-frame clip) taken "
        "off; custos: detect + plan + render + exposure check + acknowledge + package, "
        "models preloaded. exposed: output frames where MTCNN finds a face at p >= 0.9."
    )


if __name__ == "__main__":
    main()
