"""The recording checklist: the default encodes the rules, agencies can replace it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cases.errors import ConfigFileError
from cases.kinds import load_checklist, parse_checklist


def test_default_checklist_encodes_the_recording_rules() -> None:
    rules = load_checklist()
    requirement = {kind: rule.requirement for kind, rule in rules.kinds.items()}
    full = {
        "seizure",
        "forced_demolition",
        "personal_freedom",
        "life_health_property",
        "disposal_of_goods",
    }
    key_moments = {
        "on_site_inspection",
        "investigation",
        "hearing",
        "service_by_leaving",
        "service_by_notice",
        "execution",
    }
    assert {k for k, r in requirement.items() if r == "full"} == full
    assert {k for k, r in requirement.items() if r == "key_moments"} == key_moments
    assert {k for k, r in requirement.items() if r == "optional"} == {
        "initiation",
        "legal_review",
        "decision",
        "service",
    }
    assert rules.drift_tolerance_s == 5
    assert rules.resolve("查封扣押") == "seizure"
    assert rules.resolve("On-site enforcement") == "on_site_inspection"
    assert rules.resolve("公告送达") == "service_by_notice"
    with pytest.raises(ConfigFileError, match="unknown step kind 'picnic'"):
        rules.resolve("picnic")


def test_data_dir_checklist_replaces_the_default(tmp_path: Path) -> None:
    (tmp_path / "checklist.yaml").write_text(
        "drift_tolerance_s: 2\nkinds:\n  patrol: {name: patrol, requirement: full}\n"
    )
    rules = load_checklist(data_dir=tmp_path)
    assert list(rules.kinds) == ["patrol"] and rules.drift_tolerance_s == 2
    assert rules.rule("patrol").requirement == "full"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kinds": {"a": {"requirement": "always"}}}, "requirement must be one of"),
        ({"kinds": {"a": {"requirement": "full", "colour": 1}}}, "unknown keys"),
        ({"kinds": {}}, "must map each step kind"),
        ({"kinds": {"a": {"requirement": "full"}}, "drift_tolerance_s": -1}, ">= 0"),
        ({"kinds": {"a": {"requirement": "full"}}, "tolerance": 3}, "unknown keys"),
        (
            {
                "kinds": {
                    "a": {"requirement": "full", "aliases": ["x"]},
                    "b": {"requirement": "optional", "aliases": ["x"]},
                }
            },
            "names both a and b",
        ),
    ],
)
def test_malformed_checklists_are_refused(data: object, message: str) -> None:
    with pytest.raises(ConfigFileError, match=message):
        parse_checklist(data)
