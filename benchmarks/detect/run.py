"""Face detection + tracking + blur through Custos against the `deface` tool, same clips.

    .venv/bin/python benchmarks/detect/run.py [--seconds 4]
        [--cases grid@1920x1080,grid@640x360,pan@640x360] [--device cpu|cuda|auto]
        [--preset medium] [--yolo WEIGHTS_OR_YAML [--yolo-classes 0:person]]

Clips are made from the real talking-head clips in ../shared/media/av (both GRID clips
back to back, looped to --seconds, scaled and padded to each size, H.264 at 25 fps);
`pan` adds a camera pan across a real group photo (faces moving, entering, leaving).
For each clip, in the same run, on the same machine:

- deface: the `deface` command line (its defaults: CenterFace every frame at threshold
  0.2, mask scale 1.3, elliptical blur, libx264 CRF 25), timed as a process. Its start-up
  (imports, model load) is measured on a one-frame clip of the same size and reported
  apart, so "steady" frames per second compare frame work with frame work;
- Custos stage: `run_detect` on the ingested clip (decode once, detect on the frames the
  tracker asks for, track, store tracks, thumbnails and ledger), models loaded beforehand;
- Custos detect + blur: the stage plus a rendering pass (decode, blur every track box
  with the same elliptical blur, libx264 CRF 25 at --preset, default medium like deface;
  the encoder is most of the rendering time, so a faster preset is reported apart).

Exposed frames use one reference for both: CenterFace on every frame at full resolution
at threshold --reference-threshold (default 0.1, lower than either tool runs). deface's
boxes are recomputed with deface's own code on the frames deface reads (imageio), which
is what its command line blurs. Prints a table; writes JSON to benchmarks/out/.
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
from dataclasses import replace
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import av  # noqa: E402
import numpy as np  # noqa: E402

from disclosure.blur import obscure  # noqa: E402
from ingest.acquire import CaptureMeta, ingest  # noqa: E402
from models.vision.detect.base import Box  # noqa: E402
from models.vision.detect.centerface import CenterFace  # noqa: E402
from models.vision.detect_stage import DetectParams, build_detector, run_detect  # noqa: E402
from models.vision.exposure import REFERENCE_THRESHOLD, exposed_frames, reference_boxes  # noqa: E402
from models.vision.track import OnlineTracker, clip_box, frame_boxes  # noqa: E402
from models.vision.tracks_store import load_run  # noqa: E402
from models.vision.video import decode_frames  # noqa: E402
from storage.config import Settings  # noqa: E402
from storage.services import Services  # noqa: E402

MEDIA = REPO / ".." / "shared" / "media"
GRID = ("av/grid_bbaf2n.mpg", "av/grid_lwbsza.mpg")
PAN_PHOTO = "faces/pascal_voc/2007_007763.jpg"
DEFACE_THRESHOLD, DEFACE_MASK_SCALE, CRF = 0.2, 1.3, "25"
QUIET = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


def _ffmpeg(*args: str) -> None:
    subprocess.run([*QUIET, *args], check=True, timeout=600)


def make_clip(kind: str, size: tuple[int, int], seconds: float, folder: Path) -> Path:
    width, height = size
    out = folder / f"{kind}-{width}x{height}-{seconds:g}s.mp4"
    encode = ["-c:v", "libx264", "-preset", "fast", "-crf", "18", "-pix_fmt", "yuv420p"]
    fit = f"scale=-2:{height},pad={width}:{height}:(ow-iw)/2:0,setsar=1"
    if kind == "grid":
        base = folder / "grid-base.mp4"
        if not base.exists():
            inputs = [arg for clip in GRID for arg in ("-i", str(MEDIA / clip))]
            _ffmpeg(*inputs, "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]",
                    "-r", "25", *encode, str(base))  # fmt: skip
        _ffmpeg("-stream_loop", "-1", "-i", str(base), "-t", f"{seconds}", "-vf", fit,
                "-r", "25", *encode, str(out))  # fmt: skip
    elif kind == "pan":
        crop = "scale=1000:-2,crop=480:360:x='min(t*120\\,iw-480)':y='60+20*sin(t*3)'"
        _ffmpeg("-loop", "1", "-framerate", "25", "-i", str(MEDIA / PAN_PHOTO), "-t",
                f"{seconds}", "-vf", f"{crop},{fit}", *encode, str(out))  # fmt: skip
    else:
        raise SystemExit(f"unknown clip kind {kind}")
    return out


def count_frames(path: Path) -> int:
    return sum(1 for _ in decode_frames(path))


# --- deface -------------------------------------------------------------------------


def run_deface(src: Path, dst: Path, provider: str | None) -> float:
    cmd = ["deface", str(src), "-o", str(dst)]
    if provider:
        cmd += ["--execution-provider", provider]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=3600)
    return time.perf_counter() - start


def deface_boxes(src: Path, provider: str | None) -> list[list[Box]]:
    """The boxes deface blurs, recomputed with deface's own reader and detector code."""
    import imageio.v2 as imageio
    from deface.centerface import CenterFace as DefaceCenterFace
    from deface.deface import scale_bb

    model = DefaceCenterFace(in_shape=None, backend="auto", override_execution_provider=provider)
    reader = imageio.get_reader(str(src))
    out: list[list[Box]] = []
    try:
        for frame in reader.iter_data():
            height, width = frame.shape[:2]
            dets, _ = model(frame, threshold=DEFACE_THRESHOLD)
            boxes: list[Box] = []
            for det in dets:
                x1, y1, x2, y2 = scale_bb(*det[:4].astype(int), DEFACE_MASK_SCALE)
                boxes.append(clip_box((float(x1), float(y1), float(x2), float(y2)), width, height))
            out.append(boxes)
    finally:
        reader.close()
    return out


# --- Custos ---------------------------------------------------------------------------


def render(src: Path, dst: Path, boxes: list[list[Box]], preset: str = "medium") -> int:
    """Decode, blur the boxes of each frame, encode like deface (libx264 CRF 25)."""
    container = av.open(str(dst), mode="w")
    stream: Any = None
    written = 0
    for frame in decode_frames(src):
        picture = frame.rgb()
        per_frame = boxes[frame.index] if frame.index < len(boxes) else []
        if per_frame:
            obscure(picture, per_frame, inplace=True)
        if stream is None:
            stream = container.add_stream("libx264", rate=Fraction(25))
            stream.width, stream.height = picture.shape[1], picture.shape[0]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": CRF, "preset": preset}
        video_frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        video_frame.pts = written
        for packet in stream.encode(video_frame):
            container.mux(packet)
        written += 1
    if stream is not None:
        for packet in stream.encode():
            container.mux(packet)
    container.close()
    return written


def measure_custos(
    clip: Path, settings: Settings, params: DetectParams, out_dir: Path, preset: str
) -> tuple[dict[str, Any], list[list[Box]]]:
    svc = Services.open(settings)
    try:
        recording = ingest(svc, [clip], CaptureMeta(case_no="BENCH")).entries[0].recording_id
        assert recording is not None
        # Models loaded and imported before timing, as deface's start-up is excluded.
        build_detector(svc.settings, params).detect([np.zeros((64, 64, 3), np.uint8)])
        OnlineTracker(params.track)
        start = time.perf_counter()
        summary = run_detect(svc, recording, params, lambda _: None)
        stage_s = time.perf_counter() - start
        with svc.db.session() as session:
            run = load_run(session, recording)
        assert run is not None
        boxes = frame_boxes([s.track for s in run.tracks], run.frame_count)
        start = time.perf_counter()
        render(clip, out_dir / f"custos-{clip.name}", boxes, preset)
        render_s = time.perf_counter() - start
    finally:
        svc.close()
    return {
        "stage_s": stage_s,
        "render_s": render_s,
        "detect_frames": summary["detect_frames"],
        "tracks": summary["tracks"],
    }, boxes


# --- driver ---------------------------------------------------------------------------


def parse_cases(spec: str) -> list[tuple[str, tuple[int, int]]]:
    """Cases like grid@1920x1080,pan@640x360 as (kind, (width, height)) pairs."""
    cases = []
    for case in spec.split(","):
        kind, _, size = case.partition("@")
        width, _, height = size.partition("x")
        cases.append((kind, (int(width), int(height))))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--cases", default="grid@1920x1080,grid@640x360,pan@640x360")
    parser.add_argument("--preset", default="medium", help="x264 preset of the Custos render")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    parser.add_argument("--reference-threshold", type=float, default=REFERENCE_THRESHOLD)
    parser.add_argument("--yolo", default=None, help="also time the stage with this YOLO model")
    parser.add_argument("--yolo-classes", default="0:person")
    parser.add_argument("--keep", action="store_true", help="keep clips and outputs")
    args = parser.parse_args()
    if not (MEDIA / GRID[0]).exists():
        raise SystemExit(f"shared media not found at {MEDIA}")

    provider = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}.get(args.device)
    work = Path(tempfile.mkdtemp(prefix="custos-bench-detect-"))
    cases = parse_cases(args.cases)
    rows: list[dict[str, Any]] = []
    try:
        for kind, size in cases:
            rows.append(bench_clip(kind, size, args, provider, work))
            print_row(rows[-1])
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "device": args.device,
        "seconds": args.seconds,
        "preset": args.preset,
        "reference_threshold": args.reference_threshold,
        "params": DetectParams().__repr__(),
        "rows": rows,
    }
    out = REPO / "benchmarks" / "out" / f"detect-{args.device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print_table(rows)
    print(f"\nwritten {out}")


def bench_clip(
    kind: str, size: tuple[int, int], args: argparse.Namespace, provider: str | None, work: Path
) -> dict[str, Any]:
    clip = make_clip(kind, size, args.seconds, work)
    one = work / f"one-{clip.name}"
    _ffmpeg("-i", str(clip), "-frames:v", "1", "-c:v", "libx264", str(one))
    frames = count_frames(clip)
    settings = Settings(data_dir=work / f"data-{clip.stem}", actor="bench", device=args.device)
    params = DetectParams()

    deface_startup = run_deface(one, work / f"deface-one-{clip.name}", provider)
    deface_s = run_deface(clip, work / f"deface-{clip.name}", provider)
    ours, our_boxes = measure_custos(clip, settings, params, work, args.preset)
    row: dict[str, Any] = {
        "clip": kind,
        "size": f"{size[0]}x{size[1]}",
        "frames": frames,
        "deface_s": deface_s,
        "deface_startup_s": deface_startup,
        **ours,
    }
    if args.yolo:
        yolo_settings = settings.model_copy(
            update={
                "data_dir": work / f"yolo-{clip.stem}",
                "yolo_weights": Path(args.yolo),
                "yolo_class_map": args.yolo_classes,
            }
        )
        yolo_params = replace(params, detectors=("centerface", "yolo"))
        yolo_row, _ = measure_custos(clip, yolo_settings, yolo_params, work, args.preset)
        row["yolo_stage_s"] = yolo_row["stage_s"]

    reference_detector = CenterFace(
        settings.resolved_model_cache, threshold=args.reference_threshold, device=args.device
    )
    reference = reference_boxes(clip, reference_detector)
    row["reference_faces"] = sum(len(r) for r in reference)
    row["exposed_custos"] = len(exposed_frames(reference, our_boxes).frames)
    row["exposed_deface"] = len(exposed_frames(reference, deface_boxes(clip, provider)).frames)

    steady = max(deface_s - deface_startup, 1e-9)
    row["fps_deface"] = frames / deface_s
    row["fps_deface_steady"] = (frames - 1) / steady
    row["fps_stage"] = frames / ours["stage_s"]
    row["fps_blur"] = frames / (ours["stage_s"] + ours["render_s"])
    row["speedup_stage"] = row["fps_stage"] / row["fps_deface_steady"]
    row["speedup_blur"] = row["fps_blur"] / row["fps_deface_steady"]
    if "yolo_stage_s" in row:
        row["fps_stage_with_yolo"] = frames / row["yolo_stage_s"]
    return row


def print_row(row: dict[str, Any]) -> None:
    print(
        f"{row['clip']} {row['size']}: deface {row['fps_deface_steady']:.1f} fps "
        f"(raw {row['fps_deface']:.1f}), stage {row['fps_stage']:.1f}, "
        f"detect+blur {row['fps_blur']:.1f}; exposed {row['exposed_custos']} vs "
        f"{row['exposed_deface']}",
        flush=True,
    )


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'clip':5} {'size':>9} {'frames':>6} {'deface fps':>10} {'stage fps':>9} "
        f"{'det+blur fps':>12} {'x deface':>8} {'detected on':>11} "
        f"{'exposed (custos/deface)':>24} {'ref faces':>9}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        print(
            f"{r['clip']:5} {r['size']:>9} {r['frames']:>6} {r['fps_deface_steady']:>10.1f} "
            f"{r['fps_stage']:>9.1f} {r['fps_blur']:>12.1f} {r['speedup_blur']:>8.1f} "
            f"{r['detect_frames']:>11} {r['exposed_custos']:>12}/{r['exposed_deface']:<11} "
            f"{r['reference_faces']:>9}"
        )


if __name__ == "__main__":
    main()
