"""`custos case attach | statements | search` as an operator runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from cases.tables import LINK_CONFIRMED, Link
from models.speech.transcribe import Segment, Transcript, Word
from models.speech.transcripts import replace_transcripts
from storage.config import Settings, get_settings
from storage.services import Services
from tests.cases.case_factory import T0, add_case, add_recording, add_step
from tests.cases.pdf_factory import make_pdf

SAID = "我们是市场监督管理局的执法人员，这是我们的执法证件。全程录音录像。你给我闭嘴。"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    data = tmp_path / "data"
    monkeypatch.setenv("CUSTOS_DATA_DIR", str(data))
    monkeypatch.setenv("CUSTOS_ACTOR", "clerk")
    get_settings.cache_clear()
    svc = Services.open(Settings(data_dir=data, actor="clerk"))
    yield svc
    svc.close()
    get_settings.cache_clear()


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _case(svc: Services) -> str:
    with svc.db.session() as s:
        case = add_case(s, "CLI-17")
        step = add_step(s, case, "S1", "on_site_inspection", T0, T0 + timedelta(minutes=5))
        rec = add_recording(s, start=T0, seconds=60, case_no="CLI-17", proves="inspection",
                            name="BWC0042_0003.mp4")  # fmt: skip
        s.add(Link(recording_id=rec.id, step_id=step.id, status=LINK_CONFIRMED, basis={},
                   created_at=T0, created_by="t"))  # fmt: skip
        words = [Word(2.0 + i * 0.25, 2.25 + i * 0.25, ch, 0.9) for i, ch in enumerate(SAID)]
        seg = Segment(2.0, words[-1].end, SAID, "zh", 0.99, -0.2, 0.01, 1.1, 0.9, 1.0, words)
        replace_transcripts(
            s, rec.id, "p" * 64, [Transcript(rec.id, 0, "a:0", "done", segments=[seg])]
        )
        return rec.id


def test_attach_statements_and_search(env: Services, tmp_path: Path) -> None:
    rec_id = _case(env)
    pdf = tmp_path / "现场笔录.pdf"
    pdf.write_bytes(make_pdf([["现场检查笔录", "检查人员：李"]]))
    out = json.loads(run("case", "attach", "CLI-17", "S1", str(pdf), "--kind", "record", "--json"))
    assert [(a["status"], a["kind"], a["text"]) for a in out["attached"]] == [
        ("not-media", "record", "pdf_text_layer")
    ]
    data = json.loads(run("case", "statements", "CLI-17", "--json"))
    step = data["steps"][0]
    assert [(v["statement"], v["status"]) for v in step["statements"]] == [
        ("identity", "found"), ("credential", "found"), ("recording_notice", "found")]  # fmt: skip
    assert step["statements"][0]["heard"]["play"].startswith(f"/recordings/{rec_id}?t=")
    assert [f["category"] for f in step["language_flags"]] == ["insult"]
    assert [w["name"] for w in step["written_records"]] == ["现场笔录.pdf"]
    text = run("case", "statements", "CLI-17")
    assert "found the officers' identity at 00:02.0 in BWC0042_0003.mp4" in text
    assert "insult at 00:" in text and "'闭嘴'" in text
    assert "written record: 现场笔录.pdf (pdf_text_layer" in text
    found = run("case", "search", "CLI-17", "检查笔录")
    assert "written S1 record 现场笔录.pdf p.1" in found
    assert "said" in run("case", "search", "CLI-17", "执法证件")
    run("case", "attach", "CLI-17", "S1", str(tmp_path / "nothing.pdf"), "--kind", "record", code=1)
    run("case", "attach", "CLI-17", "S1", str(pdf), "--kind", "memo", code=1)
