"""`custos redact / render / acknowledge / export / verify / withdraw` through the real CLI.

A generated interview (talking face from the shared GRID clip, a spoken phone number from
the shared Mandarin clip) is ingested, detected and transcribed for real; the export is
checked offline: it verifies, a flipped byte breaks it, the number is masked in the
packaged transcript and silent in the packaged audio, open findings block the export
(exit 3) until acknowledged, and a withdrawn export fails against the revocation list.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from api.cli import app
from disclosure.plan import Plan
from disclosure.renders import change_plan
from models.speech.transcribe_stage import TranscribeParams, run_transcribe
from models.vision.detect_stage import DetectParams, run_detect
from storage.config import get_settings
from storage.services import Services
from tests.models.detect_fixtures import ingest_file, media
from tests.models.speech_fixtures import model_cache, speech

pytestmark = pytest.mark.media


@pytest.fixture
def interview(tmp_path: Path) -> Path:
    """GRID's talking face for 6 s with phone.wav (a spoken mobile number) as the audio."""
    out = tmp_path / "interview.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "1", "-i",
                    str(media("av", "grid_bbaf2n.mpg")), "-i", str(speech("zh-tts/phone.wav")),
                    "-map", "0:v", "-map", "1:a", "-t", "5.8", "-c:v", "libx264", "-preset",
                    "ultrafast", "-c:a", "aac", str(out)], check=True, timeout=120)  # fmt: skip
    return out


@pytest.fixture
def svc(make_services: object, tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch) -> Services:  # fmt: skip
    made: Services = make_services(whisper_cache_dir=model_cache(tmp_path_factory))  # type: ignore[operator]
    monkeypatch.setenv("CUSTOS_DATA_DIR", str(made.settings.data_dir))
    monkeypatch.setenv("CUSTOS_ACTOR", "disclosure-officer")
    monkeypatch.setenv("CUSTOS_WHISPER_CACHE_DIR", str(made.settings.whisper_cache_dir))
    monkeypatch.setenv("CUSTOS_LOCAL_TIMEZONE", "UTC")
    get_settings.cache_clear()
    return made


def _cli(*args: str) -> tuple[int, str]:
    get_settings.cache_clear()
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _pcm(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1",
                          "-ar", "16000", "-f", "f32le", "-"], capture_output=True,
                         check=True).stdout  # fmt: skip
    return np.frombuffer(raw, dtype="<f4")


def test_export_verify_tamper_withdraw(svc: Services, interview: Path, tmp_path: Path) -> None:
    rec = ingest_file(svc, interview)
    run_detect(svc, rec, DetectParams(), lambda _: None)
    run_transcribe(svc, rec, TranscribeParams(), lambda _: None)

    code, out = _cli("redact", rec[:8], "--json")
    assert code == 0, out
    plan = json.loads(out)
    mutes = plan["plan"]["mutes"]
    assert any(m["kind"] == "mobile" for m in mutes), mutes
    number = next(m for m in mutes if m["kind"] == "mobile")

    code, out = _cli("render", rec[:8], "--json")
    assert code == 0, out
    assert json.loads(out)["open_findings"] == 0

    package = tmp_path / "release.zip"
    code, out = _cli("export", rec[:8], "--purpose", "public", "--recipient", "press office",
                     "--out", str(package), "--json")  # fmt: skip
    assert code == 0, out
    export_id = json.loads(out)["id"]
    code, out = _cli("verify", str(package))
    assert code == 0, out

    with zipfile.ZipFile(package) as bag:
        names = bag.namelist()
        vtt = next(n for n in names if n.endswith(".vtt"))
        text = bag.read(vtt).decode()
        custody = json.loads(bag.read(next(n for n in names if n.endswith("custody.json"))))
        media_name = next(n for n in names if n.endswith("redacted.mp4"))
        (tmp_path / "out.mp4").write_bytes(bag.read(media_name))
    assert "1380" not in text and "＊" in text
    assert custody["original"]["sha256"] and custody["ledger_events"]
    assert custody["ledger_head"] is not None
    audio = _pcm(tmp_path / "out.mp4")
    a, b = int(number["start"] * 16000) + 800, int(number["end"] * 16000) - 800
    assert float(np.sqrt(np.mean(audio[a:b] ** 2))) < 1e-3, "the number is audible"
    before = audio[: max(1, int((number["start"] - 0.3) * 16000))]
    assert float(np.sqrt(np.mean(before**2))) > 1e-2, "the speech before it was muted too"

    flipped = tmp_path / "flipped.zip"
    data = bytearray(package.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))
    code, out = _cli("verify", str(flipped))
    assert code == 1, out

    code, out = _cli("withdraw", export_id, "--reason", "decision revoked")
    assert code == 0, out
    revocations = tmp_path / "revoked.json"
    code, out = _cli("revocations", "--out", str(revocations))
    assert code == 0, out
    code, out = _cli("verify", str(package), "--revocations", str(revocations))
    assert code == 1 and "withdrawn" in out.lower(), out
    code, out = _cli("exports", "--json")
    assert [e["id"] for e in json.loads(out)] == [export_id]


def test_open_findings_block_the_export_until_acknowledged(
    svc: Services, interview: Path, tmp_path: Path
) -> None:
    rec = ingest_file(svc, interview)
    run_detect(svc, rec, DetectParams(), lambda _: None)
    assert _cli("redact", rec)[0] == 0

    def keep(plan: Plan) -> None:
        for track in plan.tracks:
            track.redact = False

    change_plan(svc, rec, keep, author="officer", reason="the officer's face may be shown")
    package = tmp_path / "release.zip"
    code, out = _cli("export", rec, "--purpose", "court", "--recipient", "court",
                     "--out", str(package))  # fmt: skip
    assert code == 3, out
    assert not package.exists()
    code, out = _cli("render", rec, "--json")
    findings = json.loads(out)["findings"]
    assert findings and all(f["state"] == "open" for f in findings)
    for finding in findings:
        code, out = _cli("acknowledge", rec, str(finding["id"]), "--reason", "officer consents")
        assert code == 0, out
    code, out = _cli("export", rec, "--purpose", "court", "--recipient", "court",
                     "--out", str(package))  # fmt: skip
    assert code == 0, out
    assert _cli("verify", str(package))[0] == 0
