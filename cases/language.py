"""Language rules: forbidden or uncivil expressions (insults, threats) in what was said.

The checklist lists them by category (`language_rules`). They are flagged with their
time for the supervisor of the case; recognition does not say who spoke, so a flag is a
place to listen, not a verdict, and it does not change a step's light. Flags appear only
in the case's own views (compliance, `custos case statements`), never in exports or
statistics beyond a count. Short expressions ("闭嘴", two syllables) are easily heard
in innocent words by sound alone ("必最好"), so those of fewer than three tokens must be
heard as written; longer ones may differ as much as the rule's `min_score` allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cases.kinds import LanguageRule
from cases.phrases import Phrase, compile_phrase

if TYPE_CHECKING:
    from cases.speech import Heard, Speech

_SHORT = 3  # tokens: shorter expressions must be heard exactly


@dataclass(frozen=True)
class LanguageFlag:
    category: str
    name: str
    heard: Heard

    def to_json(self) -> dict[str, Any]:
        return {"category": self.category, "name": self.name, **self.heard.to_json()}


_COMPILED: dict[tuple[str, ...], tuple[tuple[Phrase, ...], tuple[Phrase, ...]]] = {}


def _split(rule: LanguageRule) -> tuple[tuple[Phrase, ...], tuple[Phrase, ...]]:
    """The rule's phrases as (short, long)."""
    got = _COMPILED.get(rule.phrases)
    if got is None:
        phrases = [p for t in rule.phrases if (p := compile_phrase(t)) is not None]
        short = tuple(p for p in phrases if sum(len(part) for part in p.parts) < _SHORT)
        got = (short, tuple(p for p in phrases if p not in short))
        _COMPILED[rule.phrases] = got
    return got


def flags_in(speech: Speech, rules: Sequence[LanguageRule]) -> list[LanguageFlag]:
    """Every expression of `rules` heard in the linked part of `speech`, in time order."""
    from cases.speech import heard

    out: list[LanguageFlag] = []
    for rule in rules:
        short, long = _split(rule)
        hits = speech.hear(f"language:{rule.key}:short", short, 1.0) if short else []
        hits = hits + (speech.hear(f"language:{rule.key}", long, rule.min_score) if long else [])
        out.extend(LanguageFlag(rule.key, rule.name, heard(speech, v, m)) for v, m in hits)
    out.sort(key=lambda f: (f.heard.start_s, f.category))
    return out
