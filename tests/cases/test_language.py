"""Language rules on text cases: insults and threats are flagged with their time; short
expressions only as written (their homophones are innocent words), and civil speech
gives no flag."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cases.errors import ConfigFileError
from cases.kinds import load_checklist, parse_checklist
from cases.language import flags_in
from tests.cases.statement_helpers import speech

RULES = load_checklist()
T0 = datetime(2026, 11, 3, 6, 15, tzinfo=UTC)


def flagged(*lines: tuple[float, str]) -> list[tuple[str, float, str]]:
    found = flags_in(speech(list(lines), capture_start=T0), RULES.language_rules)
    return [(f.category, f.heard.start_s, f.heard.words) for f in found]


def test_insult_flagged_at_its_time() -> None:
    got = flagged((0.0, "请出示你的证件。"), (3.0, "你给我闭嘴，站到那边去，别废话。"))
    assert [(c, t) for c, t, _ in got] == [("insult", 3.75), ("insult", 5.5)]
    assert "闭嘴" in got[0][2] and "废话" in got[1][2]


def test_traditional_and_english_and_threats() -> None:
    assert [c for c, _, _ in flagged((0.0, "你給我閉嘴"))] == ["insult"]
    got = flagged((0.0, "Shut up and stand over there."), (5.0, "I will make you pay for this."))
    assert [(c, t) for c, t, _ in got] == [("insult", 0.0), ("threat", 5.0)]


@pytest.mark.parametrize(
    "text",
    [
        "这个必最好当面说清楚。",  # bi zui: the sound of 闭嘴, innocent words
        "请您配合我们的工作，谢谢。",
        "我们是市场监督管理局的执法人员，这是我们的执法证件。",
        "Please step over there, thank you.",
        "Shutting down the machine now.",
    ],
)
def test_civil_speech_is_not_flagged(text: str) -> None:
    assert flagged((0.0, text)) == []


def test_rules_are_configurable() -> None:
    rules = parse_checklist({
        "kinds": {"a": {"requirement": "optional"}},
        "language_rules": {"dismissive": {"name": "dismissive", "en": ["whatever you say"]}},
    })  # fmt: skip
    found = flags_in(speech([(1.0, "Yeah, whatever you say.")]), rules.language_rules)
    assert [(f.category, f.heard.start_s) for f in found] == [("dismissive", 1.25)]
    with pytest.raises(ConfigFileError, match="min_score"):
        parse_checklist({"kinds": {"a": {"requirement": "optional"}},
                         "language_rules": {"x": {"zh": ["滚开"], "min_score": 2}}})  # fmt: skip
