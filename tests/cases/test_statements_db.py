"""Required statements through the database: transcripts as stored, links with ranges,
a new transcription replacing what was heard before (nothing stale served)."""

from __future__ import annotations

from datetime import timedelta

from cases.compliance import case_compliance
from cases.kinds import load_checklist
from cases.tables import LINK_CONFIRMED, Link
from models.speech.transcribe import Transcript
from models.speech.transcripts import replace_transcripts
from storage.services import Services
from tests.cases.case_factory import T0, add_case, add_recording, add_step
from tests.cases.statement_helpers import segment

RULES = load_checklist()
OPENING = [
    (1.0, "我们是市场监督管理局的执法人员，这是我们的执法证件。"),
    (8.0, "现在依法对你的货物实施查封，全程录音录像。"),
]
RIGHTS = "你有权进行陈述和申辩。"


def _transcribe(svc: Services, rec_id: str, lines: list[tuple[float, str]], params: str) -> None:
    segs = [segment(start, text) for start, text in lines]
    with svc.db.session() as s:
        replace_transcripts(s, rec_id, params * 64, [Transcript(rec_id, 0, "a:0", "done",
                                                                  segments=segs)])  # fmt: skip


def _missing(svc: Services) -> list[str]:
    with svc.db.session() as s:
        step = case_compliance(s, "ZF-2026-101", RULES).steps[0]
    assert step.speech is not None
    return [v.key for v in step.speech.verdicts if v.status != "found"]


def test_statements_follow_the_current_transcript_and_the_link_range(svc: Services) -> None:
    with svc.db.session() as s:
        case = add_case(s, "ZF-2026-101")
        step = add_step(s, case, "S1", "seizure", T0, T0 + timedelta(minutes=10))
        rec = add_recording(s, start=T0, seconds=1200, case_no=case.case_no, proves="seizure",
                            name="BWC0042_0003.mp4")  # fmt: skip
        # Only the first ten minutes of the twenty-minute recording belong to the step.
        s.add(Link(recording_id=rec.id, step_id=step.id, status=LINK_CONFIRMED, basis={},
                   range_start=T0, range_end=T0 + timedelta(minutes=10), created_at=T0,
                   created_by="t"))  # fmt: skip
        rec_id = rec.id
    assert _missing(svc) == ["identity", "credential", "recording_notice", "seizure_announced",
                             "rights_defence"]  # fmt: skip
    with svc.db.session() as s:
        assert case_compliance(s, "ZF-2026-101", RULES).steps[0].issues == ()  # unchecked
    # The rights read at 15 minutes: after the part linked to this step.
    _transcribe(svc, rec_id, [*OPENING, (900.0, RIGHTS)], "a")
    assert _missing(svc) == ["rights_defence"]
    with svc.db.session() as s:
        step_c = case_compliance(s, "ZF-2026-101", RULES).steps[0]
    assert step_c.light == "yellow" and step_c.issues == (
        "no statement of the right to state one's case and defend oneself in BWC0042_0003 "
        "during seizure",
    )
    # Transcribed again (other parameters): the rights at 20 s now; the new rows count.
    _transcribe(svc, rec_id, [*OPENING, (20.0, RIGHTS)], "b")
    assert _missing(svc) == []
    with svc.db.session() as s:
        again = case_compliance(s, "ZF-2026-101", RULES).steps[0]
    assert again.issues == () and again.speech is not None
    rights = again.speech.verdicts[-1].heard
    assert rights is not None and rights.at == T0 + timedelta(seconds=20)
