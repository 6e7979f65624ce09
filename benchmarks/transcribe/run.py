"""The transcribe stage against a bare faster-whisper script, same audio, model and settings.

    .venv/bin/python benchmarks/transcribe/run.py [--minutes 1.5] [--repeat 3]
        [--device auto|cpu|cuda] [--model base] [--batch-size 8] [--beam-size 5]

Builds one recording from the real speech clips in ../shared/media/speech (English,
Mandarin, or both interleaved, with pauses of 1-4 s between them, repeated to the requested
length) as AAC in an MP4 container, as recorders write it. Then, alternating, best of N:

- bare sequential: ``WhisperModel.transcribe(path, vad_filter=True, ...)`` with its own
  model instance, every segment consumed;
- stage sequential: ``run_transcribe`` (decode, VAD, windows, decoding, doubt flags,
  JSON derivative, database rows, ledger) on a freshly ingested copy;
- bare batched: ``BatchedInferencePipeline.transcribe(path, batch_size=N, ...)``;
- stage batched: ``run_transcribe`` with ``batch_size=N``.

With --speech zh the input repeats the two Mandarin clips we have, and the sequential
decoder takes that repetition for a failure (compression ratio) and falls back to sampling
up to temperature 1.0, so its RTF is pessimistic; the batched decoder does not fall back.

Both sides use the same model folder, device, compute type, CPU threads, beam size, word
timestamps, per-window language detection and no conditioning on previous text, and the
random seed is reset before every run, so temperature fallbacks (sampling) do the same work
on both sides. Interleaved languages (--speech mixed) make Whisper base fall back a lot,
which measures the fallbacks more than the stage. Prints
real-time factors (seconds of compute per second of audio) and the ratios bare/stage
(goal: 0.95 or better) and sequential/batched; writes JSON to benchmarks/out/.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import ctranslate2  # noqa: E402
import numpy as np  # noqa: E402

from ingest.acquire import CaptureMeta, ingest  # noqa: E402
from models.speech.audio import SAMPLE_RATE, decode_audio, list_audio_streams  # noqa: E402
from models.speech.transcribe_stage import TranscribeParams, run_transcribe  # noqa: E402
from models.speech.whisper import cpu_threads, load_whisper  # noqa: E402
from storage.config import Settings  # noqa: E402
from storage.services import Services  # noqa: E402

SPEECH = REPO / ".." / "shared" / "media" / "speech"
CLIPS = {
    "en": ("en/jfk.flac", "en/librispeech-1995-1837-0001.wav", "en/stereo_diarization.wav"),
    "zh": ("zh/aishell-BAC009S0724W0121.wav", "zh/BAC009S0764W0121.wav"),
}
CLIPS["mixed"] = CLIPS["en"] + CLIPS["zh"]
SEED = 2026
QUIET = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


def build_input(folder: Path, minutes: float, language: str) -> tuple[Path, float]:
    """Real speech clips and pauses, repeated to `minutes`, as AAC in MP4."""
    clips = []
    for name in CLIPS[language]:
        path = SPEECH / name
        if not path.exists():
            sys.exit(f"missing {path}: the benchmark needs ../shared/media/speech")
        clips.append(decode_audio(path, list_audio_streams(path)[0].index))
    rng = np.random.default_rng(2026)
    pieces: list[np.ndarray] = []
    total = 0
    target = int(minutes * 60 * SAMPLE_RATE)
    i = 0
    while total < target:
        pause = np.zeros(int(rng.uniform(1.0, 4.0) * SAMPLE_RATE), np.float32)
        clip = clips[i % len(clips)]
        pieces += [pause, clip]
        total += pause.shape[0] + clip.shape[0]
        i += 1
    audio = np.concatenate(pieces)[:target]
    raw = folder / "speech.f32"
    raw.write_bytes(audio.astype("<f4").tobytes())
    out = folder / "speech.mp4"
    subprocess.run(
        [*QUIET, "-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", str(raw),
         "-c:a", "aac", "-b:a", "96k", str(out)],
        check=True,
    )  # fmt: skip
    raw.unlink()
    return out, audio.shape[0] / SAMPLE_RATE


def stage_runner(
    workdir: Path, source: Path, settings: dict[str, Any], batch_size: int, beam: int
) -> Callable[[], tuple[float, str]]:
    def run() -> tuple[float, str]:
        ctranslate2.set_random_seed(SEED)
        data = Path(tempfile.mkdtemp(prefix="stage-", dir=workdir))
        svc = Services.open(Settings(data_dir=data, actor="bench", **settings))
        try:
            receipt = ingest(svc, [source], CaptureMeta())
            rec = receipt.entries[0].recording_id
            assert rec is not None
            params = TranscribeParams(batch_size=batch_size, beam_size=beam)
            start = time.perf_counter()
            run_transcribe(svc, rec, params, lambda _: None)
            elapsed = time.perf_counter() - start
            from models.speech.transcripts import load_transcripts

            with svc.db.session() as session:
                text = " ".join(s.text for t in load_transcripts(session, rec) for s in t.segments)
            return elapsed, text
        finally:
            svc.close()
            shutil.rmtree(data, ignore_errors=True)

    return run


def bare_runner(
    model: Any, source: Path, batch_size: int, beam: int
) -> Callable[[], tuple[float, str]]:
    """What a person would write with faster-whisper alone, same settings as the stage."""
    from faster_whisper import BatchedInferencePipeline

    common = {
        "beam_size": beam,
        "word_timestamps": True,
        "multilingual": True,
        "condition_on_previous_text": False,
        "vad_filter": True,
    }

    def run() -> tuple[float, str]:
        ctranslate2.set_random_seed(SEED)
        start = time.perf_counter()
        if batch_size > 1:
            pipeline = BatchedInferencePipeline(model)
            segments, _ = pipeline.transcribe(str(source), batch_size=batch_size, **common)
        else:
            segments, _ = model.transcribe(str(source), **common)
        text = " ".join(s.text.strip() for s in segments)
        return time.perf_counter() - start, text

    return run


def agreement(a: str, b: str) -> float:
    """1 - character error rate between two transcripts (spaces ignored, both simplified:
    the stage writes Chinese in simplified characters, bare faster-whisper as it comes)."""
    import jiwer

    from models.speech.trust import to_simplified

    x, y = "".join(to_simplified(a).split()), "".join(to_simplified(b).split())
    if not x and not y:
        return 1.0
    return 1.0 - float(jiwer.cer(x, y))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=1.5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--model", default="base", help="base | tiny.en | a CTranslate2 folder")
    parser.add_argument("--batch-size", type=int, default=None, help="default 8 CPU / 16 GPU")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--speech", choices=sorted(CLIPS), default="en")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="custos-bench-transcribe-", dir=args.workdir))
    try:
        source, seconds = build_input(workdir, args.minutes, args.speech)
        cache = workdir / "models"
        loaded = load_whisper(args.model, cache_dir=cache, device=args.device)
        from faster_whisper import WhisperModel

        bare_model = WhisperModel(
            str(loaded.location.path),
            device=loaded.device,
            compute_type=loaded.compute_type,
            cpu_threads=cpu_threads() if loaded.device == "cpu" else 0,
            local_files_only=True,
        )
        batch = args.batch_size or (16 if loaded.device == "cuda" else 8)
        settings = {"whisper_cache_dir": cache, "device": args.device, "whisper_model": args.model}
        runners = {
            "bare sequential": bare_runner(bare_model, source, 0, args.beam_size),
            "stage sequential": stage_runner(workdir, source, settings, 0, args.beam_size),
            "bare batched": bare_runner(bare_model, source, batch, args.beam_size),
            "stage batched": stage_runner(workdir, source, settings, batch, args.beam_size),
        }
        for run in runners.values():  # warm-up: caches, CUDA kernels, the first-call costs
            run()
        times: dict[str, list[float]] = {name: [] for name in runners}
        texts: dict[str, str] = {}
        for _ in range(args.repeat):
            for name, run in runners.items():
                elapsed, text = run()
                times[name].append(elapsed)
                texts[name] = text
                print(f"  {name:17s} {elapsed:7.2f} s", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    best = {name: min(v) for name, v in times.items()}
    median = {name: statistics.median(v) for name, v in times.items()}
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu_threads": cpu_threads(),
        "device": loaded.device,
        "compute_type": loaded.compute_type,
        "model": loaded.name,
        "model_sha256": loaded.location.sha256,
        "audio_s": round(seconds, 2),
        "speech": args.speech,
        "repeat": args.repeat,
        "beam_size": args.beam_size,
        "batch_size": batch,
        "best_s": {k: round(v, 3) for k, v in best.items()},
        "median_s": {k: round(v, 3) for k, v in median.items()},
        "rtf_best": {k: round(v / seconds, 4) for k, v in best.items()},
        "ratio_bare_over_stage": {
            "sequential": round(best["bare sequential"] / best["stage sequential"], 3),
            "batched": round(best["bare batched"] / best["stage batched"], 3),
        },
        "ratio_bare_over_stage_median": {
            "sequential": round(median["bare sequential"] / median["stage sequential"], 3),
            "batched": round(median["bare batched"] / median["stage batched"], 3),
        },
        "speedup_batched_over_sequential": {
            "stage": round(best["stage sequential"] / best["stage batched"], 3),
            "bare": round(best["bare sequential"] / best["bare batched"], 3),
        },
        "text_agreement_with_bare": {
            "sequential": round(agreement(texts["bare sequential"], texts["stage sequential"]), 4),
            "batched": round(agreement(texts["bare batched"], texts["stage batched"]), 4),
        },
    }
    print()
    print(
        f"{seconds:.1f} s of audio ({args.speech}), model {loaded.name}, {loaded.device} "
        f"{loaded.compute_type}, beam {args.beam_size}, batch {batch}, best of {args.repeat}"
    )
    print(f"{'run':18s} {'best s':>8s} {'median s':>9s} {'RTF':>8s}")
    for name in runners:
        print(f"{name:18s} {best[name]:8.2f} {median[name]:9.2f} {best[name] / seconds:8.4f}")
    ratio = result["ratio_bare_over_stage"]
    ratio_median = result["ratio_bare_over_stage_median"]
    speed = result["speedup_batched_over_sequential"]
    agree = result["text_agreement_with_bare"]
    print(
        f"bare/stage (best): sequential {ratio['sequential']:.3f}, batched {ratio['batched']:.3f}"
        f"; (median): sequential {ratio_median['sequential']:.3f}, "
        f"batched {ratio_median['batched']:.3f} (goal >= 0.95)"
    )
    print(
        f"batched speed-up over sequential: stage {speed['stage']:.2f}x, bare {speed['bare']:.2f}x"
    )
    print(
        f"text agreement with bare: sequential {agree['sequential']:.3f}, "
        f"batched {agree['batched']:.3f}"
    )
    out = REPO / "benchmarks" / "out" / f"transcribe-{loaded.device}-{args.speech}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
