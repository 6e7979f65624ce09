"""Error rates and speed: the transcribe stage against bare faster-whisper, same run, same audio.

    .venv/bin/python benchmarks/transcribe/fidelity.py [--long-minutes 3] [--device auto]

On every variant of the fidelity corpus (tests/models/fidelity_corpus.py: the shared real
clips and the variants generated from them), one after another in the same process:

- stage: ``run_transcribe`` on a freshly ingested copy (PyAV decode, channels, VAD,
  decoding, second pass, flags, JSON derivative, database rows, ledger), default params;
- bare sequential: ``WhisperModel.transcribe(audio, beam_size=5, vad_filter=True)``;
- bare batched: ``BatchedInferencePipeline.transcribe(audio, batch_size=8)``.

Bare runs use a plain faster-whisper model of their own from the same folder, device,
compute type and threads. Two-speaker stereo is scored per channel (bare gets each channel
extracted; its time counts both). Prints WER (English) / CER (Mandarin) per variant and
pooled per language, seconds per side and the ratio bare/stage; writes JSON to
benchmarks/out/transcribe-fidelity-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import ctranslate2  # noqa: E402
from faster_whisper import BatchedInferencePipeline, WhisperModel  # noqa: E402

from models.speech.transcribe_stage import TranscribeParams, run_transcribe  # noqa: E402
from models.speech.transcripts import load_transcripts  # noqa: E402
from models.speech.whisper import cpu_threads, whisper_for  # noqa: E402
from storage.config import Settings  # noqa: E402
from storage.services import Services  # noqa: E402
from tests.models.fidelity_corpus import build_corpus, channel_audio, score  # noqa: E402
from tests.models.speech_fixtures import ingest_file  # noqa: E402


def _joined(texts: list[str], language: str) -> str:
    return ("" if language == "zh" else " ").join(t.strip() for t in texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--long-minutes", type=float, default=3.0)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--model", default="base")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="custos-fidelity-"))
    corpus = build_corpus(work / "corpus", long_minutes=args.long_minutes)
    settings = Settings(data_dir=work / "data", actor="bench", device=args.device,
                        whisper_model=args.model)  # fmt: skip
    svc = Services.open(settings)
    loaded = whisper_for(settings)
    bare = WhisperModel(str(loaded.location.path), device=loaded.device,
                        compute_type=loaded.compute_type,
                        cpu_threads=cpu_threads() if loaded.device == "cpu" else 0,
                        local_files_only=True)  # fmt: skip
    rows: list[dict[str, Any]] = []
    totals = {"stage": 0.0, "bare_sequential": 0.0, "bare_batched": 0.0}
    audio_s = 0.0
    for variant in corpus:
        audio_s += variant.duration_s
        rec = ingest_file(svc, variant.path)
        started = time.perf_counter()
        run_transcribe(svc, rec, TranscribeParams(), lambda _: None)
        stage_s = time.perf_counter() - started
        with svc.db.session() as session:
            transcripts = load_transcripts(session, rec)
        seq_s = bat_s = 0.0
        for channel, reference in variant.references.items():
            source: Any = str(variant.path)
            if channel is not None:
                source = channel_audio(variant.path, channel)
            started = time.perf_counter()
            ctranslate2.set_random_seed(1)  # as the stage seeds its sampling fallback
            segs, _ = bare.transcribe(source, beam_size=5, vad_filter=True)
            seq = _joined([s.text for s in segs], variant.language)
            seq_s += time.perf_counter() - started
            started = time.perf_counter()
            segs, _ = BatchedInferencePipeline(bare).transcribe(source, batch_size=8)
            bat = _joined([s.text for s in segs], variant.language)
            bat_s += time.perf_counter() - started
            stage = _joined([s.text for t in transcripts for s in t.segments
                             if channel is None or s.channel in (channel, None)],
                            variant.language)  # fmt: skip
            scores = {k: score(reference, text, variant.language)
                      for k, text in (("stage", stage), ("bare_sequential", seq),
                                      ("bare_batched", bat))}  # fmt: skip
            rows.append({
                "variant": variant.name, "channel": channel, "language": variant.language,
                "units": scores["stage"].reference_units,
                **{f"{k}_errors": v.errors for k, v in scores.items()},
                **{f"{k}_rate": round(v.rate, 4) for k, v in scores.items()},
                "stage_text": stage, "bare_sequential_text": seq, "bare_batched_text": bat,
            })  # fmt: skip
            print(f"{variant.name:40s} ch={channel!s:4s} stage {scores['stage'].rate:6.1%}  "
                  f"bare seq {scores['bare_sequential'].rate:6.1%}  "
                  f"bare batched {scores['bare_batched'].rate:6.1%}", flush=True)  # fmt: skip
        rows[-1].update(stage_s=round(stage_s, 2), bare_sequential_s=round(seq_s, 2),
                        bare_batched_s=round(bat_s, 2))  # fmt: skip
        totals["stage"] += stage_s
        totals["bare_sequential"] += seq_s
        totals["bare_batched"] += bat_s

    pooled: dict[str, dict[str, float]] = {}
    for language in sorted({r["language"] for r in rows}):
        mine = [r for r in rows if r["language"] == language]
        units = sum(r["units"] for r in mine)
        pooled[language] = {k: round(sum(r[f"{k}_errors"] for r in mine) / units, 4)
                            for k in totals}  # fmt: skip
    print("\npooled error rate (en WER, zh CER):")
    for language, rates in pooled.items():
        print(f"  {language}: " + "  ".join(f"{k} {v:.1%}" for k, v in rates.items()))
    print(f"\naudio {audio_s:.0f} s; seconds: " +
          "  ".join(f"{k} {v:.1f}" for k, v in totals.items()))  # fmt: skip
    print(f"bare sequential / stage: {totals['bare_sequential'] / totals['stage']:.3f}   "
          f"bare batched / stage: {totals['bare_batched'] / totals['stage']:.3f}")  # fmt: skip
    out = REPO / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "when": datetime.now(UTC).isoformat(), "host": platform.node(),
        "device": loaded.device, "compute_type": loaded.compute_type, "model": loaded.name,
        "threads": cpu_threads(), "audio_s": round(audio_s, 1),
        "seconds": {k: round(v, 2) for k, v in totals.items()},
        "rtf": {k: round(v / audio_s, 4) for k, v in totals.items()},
        "pooled_error_rate": pooled, "variants": rows,
    }  # fmt: skip
    path = out / f"transcribe-fidelity-{loaded.device}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print(f"wrote {path}")
    svc.close()


if __name__ == "__main__":
    main()
