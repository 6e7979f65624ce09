"""The normalise stage: one ffmpeg run turns an original into browser-ready derivatives.

Outputs (kinds): mezzanine (H.264/AAC MP4, faststart), proxy (low-res MP4), poster
(JPEG), thumbs + thumbs_vtt (sprite and WebVTT index for scrubbing), audio16k (mono
speech audio) and, for audio-only records, peaks (waveform JSON). Each is stored at a
deterministic key and ledgered as derived from the original's digest, so a repeated
job stores and ledgers nothing twice.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ingest import ffmpeg_cmd as cmd
from ingest.errors import FFmpegFailed, FFmpegTimeout, MediaUndecodable
from storage.config import Settings
from storage.db.schema import Recording
from storage.derived import derivatives_of, store_derivative
from storage.errors import PermanentError
from storage.objects.hashing import derived_key, params_digest
from storage.params import from_json
from storage.services import Services

STAGE = "normalise"
Progress = Callable[[float], None]

_CONTENT_TYPES = {
    "mezzanine": "video/mp4",
    "proxy": "video/mp4",
    "poster": "image/jpeg",
    "thumbs": "image/jpeg",
    "thumbs_vtt": "text/vtt",
    "audio16k": "audio/wav",
    "peaks": "application/json",
}
# stderr lines that mean the host, not the media, is at fault: worth a retry.
_HOST_FAULTS = (
    "No space left on device",
    "Cannot allocate memory",
    "Too many open files",
    "Cannot load libcuda",  # a GPU encoder configured on a host without a usable GPU
    "No capable devices found",
    "OpenEncodeSessionEx failed",
)
_STDERR_TAIL = 2000
_FFMPEG_SHARE = 0.9  # of the progress bar; storing the outputs takes the rest


@dataclass(frozen=True)
class NormaliseParams:
    outputs: tuple[str, ...] = cmd.ALL_OUTPUTS
    encode: cmd.EncodeOptions = field(default_factory=cmd.EncodeOptions)
    peaks_per_second: int = 50
    # Runtime only: how many threads ffmpeg may use (0 = its own choice). Excluded
    # from the parameter digest: it may change x264's bytes slightly, never the content.
    threads: int = 0

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> NormaliseParams:
        encode = cmd.EncodeOptions(
            proxy_height=settings.proxy_height, video_encoder=settings.video_encoder
        )
        return cls(**{"encode": encode, **overrides})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NormaliseParams:
        """Rebuild from JSON (a job row's params); unknown or ill-typed keys are permanent."""
        try:
            return from_json(cls, data)
        except (TypeError, ValueError) as exc:
            raise PermanentError(f"bad normalise parameters: {exc}") from exc

    def identity(self) -> dict[str, Any]:
        """The parameters that define the outputs (what the digest covers)."""
        data = asdict(self)
        # Neither changes what any one output is: the thread count is a runtime choice,
        # and each output is keyed on its own name, so a run that makes only the
        # mezzanine and a later full run share that mezzanine.
        data.pop("threads")
        data.pop("outputs")
        return data


def params_hash(params: NormaliseParams) -> str:
    return params_digest(params.identity())


# --------------------------------------------------------------------------- processes


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - _STDERR_TAIL))
            return handle.read().decode("utf-8", errors="replace").strip()
    except OSError:
        return ""


def _progress_filter(progress: Progress, scale: float) -> Progress:
    """Monotonic, clamped, and only on whole-percent changes (callers may write a DB)."""
    last = [-1.0]

    def report(value: float) -> None:
        value = min(1.0, max(0.0, value)) * scale
        if value - last[0] >= 0.01:
            last[0] = value
            progress(value)

    return report


def run_ffmpeg(
    args: list[str],
    *,
    timeout_s: float,
    duration_s: float | None,
    stderr_path: Path,
    progress: Progress | None = None,
) -> None:
    """Run ffmpeg with `-progress pipe:1`, a hard time limit and stderr kept for errors."""
    timed_out = threading.Event()
    with (
        stderr_path.open("wb") as stderr,
        subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr
        ) as proc,
    ):

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout_s, kill)
        timer.daemon = True
        timer.start()
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                key, _, value = raw.decode("ascii", errors="replace").strip().partition("=")
                if progress is None or not duration_s:
                    continue
                if key == "out_time_us" and value.lstrip("-").isdigit():
                    progress(int(value) / 1e6 / duration_s)
                elif key == "progress" and value == "end":
                    progress(1.0)
            returncode = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:  # the progress callback raised: leave no ffmpeg behind
                proc.kill()
                proc.wait()
    if timed_out.is_set():
        raise FFmpegTimeout(timeout_s, _tail(stderr_path))
    if returncode != 0:
        tail = _tail(stderr_path)
        if returncode < 0 or any(fault in tail for fault in _HOST_FAULTS):
            raise FFmpegFailed(f"ffmpeg exited with {returncode}", tail)
        raise MediaUndecodable("ffmpeg could not decode the media", tail)


def probe(src: Path, *, timeout_s: float) -> cmd.MediaInfo:
    try:
        result = subprocess.run(
            cmd.probe_args(src), capture_output=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise FFmpegTimeout(timeout_s, "ffprobe") from exc
    stderr = result.stderr.decode("utf-8", errors="replace")[-_STDERR_TAIL:]
    if result.returncode < 0:
        raise FFmpegFailed(f"ffprobe exited with {result.returncode}", stderr)
    if result.returncode != 0:
        raise MediaUndecodable("ffprobe could not read the media", stderr)
    try:
        data = json.loads(result.stdout or b"{}")
    except json.JSONDecodeError as exc:
        raise MediaUndecodable("ffprobe gave unreadable output", stderr) from exc
    return cmd.parse_probe(data)


def waveform_peaks(
    audio: Path, work: Path, *, sample_rate: int, per_second: int, timeout_s: float
) -> dict[str, Any]:
    """Min/max pairs in the audiowaveform JSON format (version 2, 8-bit) read by peaks.js."""
    raw = work / "pcm.s16le"
    args = cmd.pcm_args(audio, raw, sample_rate=sample_rate)
    run_ffmpeg(args, timeout_s=timeout_s, duration_s=None, stderr_path=work / "pcm.log")
    per_pixel = max(1, sample_rate // max(1, per_second))
    samples = np.memmap(raw, dtype="<i2", mode="r") if raw.stat().st_size >= 2 else None
    data: list[int] = []
    if samples is not None:
        chunk = per_pixel * 4096  # bounded memory however long the recording
        for start in range(0, len(samples), chunk):
            block = np.asarray(samples[start : start + chunk], dtype=np.int16)
            pad = (-len(block)) % per_pixel
            if pad:
                block = np.concatenate([block, np.repeat(block[-1:], pad)])
            frames = block.reshape(-1, per_pixel) >> 8  # 16-bit to the format's 8 bits
            pairs = np.stack([frames.min(axis=1), frames.max(axis=1)], axis=1)
            data.extend(int(v) for v in pairs.ravel())
        del samples
    return {
        "version": 2,
        "channels": 1,
        "sample_rate": sample_rate,
        "samples_per_pixel": per_pixel,
        "bits": 8,
        "length": len(data) // 2,
        "data": data,
    }


# --------------------------------------------------------------------------- the stage


def _load_recording(svc: Services, recording_id: str) -> Recording:
    with svc.db.session() as session:
        recording = session.get(Recording, recording_id)
        if recording is None:
            raise PermanentError(f"no recording {recording_id}")
        session.expunge(recording)
        return recording


def _media_summary(info: cmd.MediaInfo) -> dict[str, Any]:
    video = info.video
    summary: dict[str, Any] = {
        "duration_s": info.duration_s,
        "has_video": video is not None,
        "has_audio": info.audio is not None,
    }
    if video is not None:
        width, height = video.display_size
        summary.update(
            width=width,
            height=height,
            fps=float(video.frame_rate) if video.frame_rate else None,
            variable_frame_rate=video.variable_rate,
            rotation=video.rotation,
            video_codec=video.codec,
        )
    if info.audio is not None:
        summary["audio_codec"] = info.audio.codec
    return summary


def run_normalise(
    svc: Services, recording_id: str, params: NormaliseParams, progress: Progress
) -> dict[str, Any]:
    """Make and store every normalise output of one recording; see the module docstring."""
    started = time.monotonic()
    recording = _load_recording(svc, recording_id)
    settings = svc.settings
    phash = params_hash(params)
    report = _progress_filter(progress, _FFMPEG_SHARE)
    report(0.0)
    with svc.store.local_path(recording.object_key) as src:
        info = probe(Path(src), timeout_s=settings.ffmpeg_timeout_base_s)
        reason = cmd.refusal_reason(info)
        if reason:
            raise MediaUndecodable(reason)
        try:
            plan = cmd.plan_normalise(info, params.encode, params.outputs)
        except ValueError as exc:
            raise PermanentError(str(exc)) from exc
        names = {kind: cmd.output_path(Path(), kind, params.encode).name for kind in plan.outputs}
        keys = {k: derived_key(recording.sha256, STAGE, phash, n) for k, n in names.items()}
        summary: dict[str, Any] = {
            "stage": STAGE,
            "status": "done",
            "params_hash": phash,
            "copied": {"video": plan.copy_video, "audio": plan.copy_audio},
            "media": _media_summary(info),
            "thumbs": asdict(plan.thumbs) if plan.thumbs else None,
        }
        stored = {d.object_key: d for d in derivatives_of(svc, recording_id)}
        missing = [kind for kind in plan.outputs if keys[kind] not in stored]
        if not missing:
            # A repeated or redelivered job: everything is already there.
            progress(1.0)
            found = {k: _describe(stored[key]) for k, key in keys.items()}
            return {**summary, "reused": True, "outputs": found, "elapsed_s": 0.0}
        if len(missing) < len(plan.outputs):
            # An earlier attempt died part-way: make only what is not stored yet.
            wanted = {"thumbs" if kind == "thumbs_vtt" else kind for kind in missing}
            plan = cmd.plan_normalise(info, params.encode, sorted(wanted))

        timeout_s = cmd.timeout_for(
            info.duration_s,
            info.size,
            settings.ffmpeg_timeout_factor,
            settings.ffmpeg_timeout_base_s,
        )
        tmp_root = settings.data_dir.resolve() / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        outputs = {k: _describe(stored[key]) for k, key in keys.items() if key in stored}
        with tempfile.TemporaryDirectory(prefix="normalise-", dir=tmp_root) as tmp:
            work = Path(tmp)
            files = _make_outputs(Path(src), work, info, plan, params, timeout_s, report)
            for i, kind in enumerate(plan.outputs):
                row = store_derivative(
                    svc,
                    recording,
                    stage=STAGE,
                    params_hash=phash,
                    kind=kind,
                    name=names[kind],
                    source=files[kind],
                    content_type=_content_type(kind, files[kind]),
                )
                outputs[kind] = _describe(row)
                progress(_FFMPEG_SHARE + (1 - _FFMPEG_SHARE) * (i + 1) / len(plan.outputs))
    progress(1.0)
    elapsed = round(time.monotonic() - started, 3)
    return {**summary, "reused": False, "outputs": outputs, "elapsed_s": elapsed}


def _content_type(kind: str, path: Path) -> str:
    if kind == "audio16k" and path.suffix == ".flac":
        return "audio/flac"
    return _CONTENT_TYPES[kind]


def _describe(row: Any) -> dict[str, Any]:
    return {"key": row.object_key, "sha256": row.sha256, "size": row.size}


def _make_outputs(
    src: Path,
    work: Path,
    info: cmd.MediaInfo,
    plan: cmd.Plan,
    params: NormaliseParams,
    timeout_s: float,
    report: Progress,
) -> dict[str, Path]:
    files = {kind: cmd.output_path(work, kind, params.encode) for kind in plan.outputs}
    if plan.ffmpeg_outputs:
        args = cmd.normalise_args(src, work, info, plan, params.encode, threads=params.threads)
        run_ffmpeg(
            args,
            timeout_s=timeout_s,
            duration_s=plan.duration_s,
            stderr_path=work / "ffmpeg.log",
            progress=report,
        )
    if "thumbs_vtt" in files and plan.thumbs is not None:
        files["thumbs_vtt"].write_text(cmd.thumbs_vtt(plan.thumbs), encoding="utf-8")
    if "peaks" in files:
        audio = files.get("audio16k") or src
        peaks = waveform_peaks(
            audio,
            work,
            sample_rate=params.encode.speech_rate,
            per_second=params.peaks_per_second,
            timeout_s=timeout_s,
        )
        files["peaks"].write_text(json.dumps(peaks, separators=(",", ":")), encoding="utf-8")
    missing = [k for k, path in files.items() if not path.exists() or path.stat().st_size == 0]
    if missing:
        # ffmpeg exits 0 when it decoded nothing ("Output file is empty"): the media
        # has no decodable frames where we looked.
        raise MediaUndecodable(
            f"no decodable content for {', '.join(missing)}", _tail(work / "ffmpeg.log")
        )
    return files


__all__ = ["STAGE", "NormaliseParams", "params_hash", "run_normalise"]
