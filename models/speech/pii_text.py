"""E-mail addresses and personal names in recognised speech.

E-mail addresses are read written ("li.wei@example.com") and spoken ("li wei at example dot
com", "zhangsan艾特qq点com", digits spoken as words included); an address-like domain after
a cue word (email, 邮箱) counts too, since recognition often swallows the "at".

Names are those the redaction plan lists. Chinese names match by sound: the same
characters, the same pinyin (homophones: 张伟 heard as 章伟), or pinyin that differs only
in the sounds speakers and recognisers confuse (zh/z, ch/c, sh/s, l/n, f/h, -ng/-n); a name
of three characters may have one syllable wrong, and its given name alone counts. Latin
names (and the pinyin of Chinese ones) match with rapidfuzz, whole or a long part alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from rapidfuzz import fuzz

from models.speech.pii_numbers import CUE_WINDOW, Cue, Hit, View

# --- e-mail -------------------------------------------------------------------------------


def _word(*words: str) -> str:
    return r"(?:(?<![A-Za-z])(?:" + "|".join(words) + r")(?![A-Za-z]))"


_AT = r"(?:@|＠|艾特|圈a|" + _word("at") + ")"
_DOT = r"(?:\.|。|点|點|" + _word("dot", "point") + ")"
_JOIN = r"(?:[_\-+]|下划线|" + _word("underscore", "dash", "hyphen", "plus") + ")"
_LABEL = r"[A-Za-z0-9]+"
_TLD = (
    r"(?:com|cn|net|org|edu|gov|mil|int|info|biz|io|co|me|us|uk|de|fr|jp|hk|tw|mo|sg|ru|au|"
    r"ca|eu|top|xyz|vip|club)(?![A-Za-z0-9])"
)
_S = r"[ \t]*"
_LOCAL = rf"{_LABEL}(?:{_S}(?:{_DOT}|{_JOIN}){_S}{_LABEL})*"
_DOMAIN = rf"{_LABEL}(?:{_S}{_DOT}{_S}{_LABEL})*?{_S}{_DOT}{_S}{_TLD}"
_EMAIL = re.compile(rf"(?<![A-Za-z0-9]){_LOCAL}{_S}{_AT}{_S}{_DOMAIN}", re.IGNORECASE)
_ADDRESS = re.compile(rf"(?<![A-Za-z0-9])(?:{_LABEL}[.@])+{_LABEL}\.{_TLD}", re.IGNORECASE)
_DOMAIN_WRITTEN = re.compile(rf"(?<![A-Za-z0-9.]){_LABEL}(?:\.{_LABEL})*\.{_TLD}", re.I)
# A dotted or underscored name, then at most three short words before the domain.
_LOCAL_LIKE = re.compile(
    r"(?<![A-Za-z0-9._])[A-Za-z0-9]+(?:[._][A-Za-z0-9]+)+(?:\s+[A-Za-z]{1,6}){0,3}\s*$"
)
_NOT_LOCAL = frozenset({"me", "us", "him", "her", "them", "you", "it", "is", "write", "mail"})
_BARE_AT = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9._%+\-]+[@＠][A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*")


def _spoken_address(text: str) -> str:
    """'li wei at example dot com' -> 'liwei@example.com' (lower case, spaces dropped)."""
    out = re.sub(_AT, "@", text, flags=re.IGNORECASE)
    out = re.sub(_DOT, ".", out, flags=re.IGNORECASE)
    out = re.sub(r"下划线|" + _word("underscore"), "_", out, flags=re.IGNORECASE)
    out = re.sub(_word("dash", "hyphen"), "-", out, flags=re.IGNORECASE)
    out = re.sub(_word("plus"), "+", out, flags=re.IGNORECASE)
    return re.sub(r"\s+", "", out).lower()


def find_emails(view: View, cues: Sequence[Cue]) -> list[Hit]:
    hits: list[Hit] = []
    taken: list[tuple[int, int]] = []

    def add(a: int, b: int, confidence: float, validated: bool, reason: str) -> None:
        if any(a < y and x < b for x, y in taken):
            return
        taken.append((a, b))
        start, end = view.source(a, b)
        hits.append(
            Hit("email", start, end, _spoken_address(view.text[a:b]), confidence, validated, reason)
        )

    for m in _EMAIL.finditer(view.text):
        written = "@" in m.group(0) or "＠" in m.group(0)
        local = re.match(rf"{_LABEL}{_S}{_AT}", m.group(0), re.IGNORECASE)
        if local and not written and local.group(0).split()[0].lower() in _NOT_LOCAL:
            continue  # "email me at li.wei.com": the address is what follows "at"
        add(
            m.start(),
            m.end(),
            0.95 if written else 0.85,
            True,
            "e-mail address" if written else "spoken e-mail address (at, dot)",
        )
    for m in _BARE_AT.finditer(view.text):
        add(m.start(), m.end(), 0.8, False, "word@word without a known domain ending")
    for m in _DOMAIN_WRITTEN.finditer(view.text):
        before = _LOCAL_LIKE.search(view.text[max(0, m.start() - 30) : m.start()])
        if before is not None:
            a = m.start() - (len(view.text[max(0, m.start() - 30) : m.start()]) - before.start())
            add(a, m.end(), 0.6, False, "an address whose 'at' was misheard (a dotted name, "
                "a few words, a domain)")  # fmt: skip
    for m in _ADDRESS.finditer(view.text):
        cue = _email_cue(view, cues, m.start())
        after_at = re.search(_AT + _S + "$", view.text[max(0, m.start() - 8) : m.start()], re.I)
        if cue is not None or after_at:
            said = f"after {cue.label!r}" if cue else "after 'at'"
            add(m.start(), m.end(), 0.75, False, f"address {said}, its own 'at' not heard")
    return hits


def _email_cue(view: View, cues: Sequence[Cue], at: int) -> Cue | None:
    near = [c for c in cues if c.kind == "email" and c.end <= at and at - c.end <= 2 * CUE_WINDOW]
    return max(near, key=lambda c: c.end) if near else None


# --- names --------------------------------------------------------------------------------

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN_TOKEN = re.compile(r"[A-Za-z]+(?:['\-][A-Za-z]+)*")
_LATIN_WHOLE = 85.0  # rapidfuzz ratio for a whole name
_LATIN_PART = 80.0  # ... and for one part of it alone (parts of four letters or more)
_PINYIN_NEAR = 75.0  # ratio of the pinyin of a three-character name with one syllable off


@lru_cache(maxsize=8192)
def readings(ch: str) -> frozenset[str]:
    """Toneless pinyin readings of one Han character (all of them: heteronyms)."""
    from pypinyin import Style, pinyin  # loaded on first use: its dictionaries take 0.5 s

    found = pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")
    return frozenset(r.lower() for group in found for r in group if r.isalpha())


def fold(syllable: str) -> str:
    """A syllable with the sounds that are commonly confused made the same."""
    for a, b in (("zh", "z"), ("ch", "c"), ("sh", "s")):
        if syllable.startswith(a):
            syllable = b + syllable[2:]
    if syllable[:1] == "l":
        syllable = "n" + syllable[1:]
    if syllable[:1] == "f":
        syllable = "h" + syllable[1:]
    if syllable.endswith("ng"):
        syllable = syllable[:-1]
    return syllable


@lru_cache(maxsize=8192)
def _folded(ch: str) -> frozenset[str]:
    return frozenset(fold(r) for r in readings(ch))


def _han_score(name: str, heard: str) -> tuple[float, str] | None:
    if heard == name:
        return 1.0, "the name as written"
    same = [bool(readings(a) & readings(b)) for a, b in zip(name, heard, strict=True)]
    if all(same):
        return 0.9, "same pinyin"
    close = [s or bool(_folded(a) & _folded(b)) for s, a, b in zip(same, name, heard, strict=True)]
    if all(close):
        return 0.75, "similar pinyin"
    if len(name) >= 3 and close[0] and close.count(False) == 1:
        want = " ".join(sorted(readings(c))[0] for c in name)
        got = " ".join(sorted(readings(c))[0] if readings(c) else c for c in heard)
        if fuzz.ratio(want, got) >= _PINYIN_NEAR:
            return 0.55, "pinyin with one syllable off"
    return None


def _han_names(text: str, name: str) -> list[Hit]:
    hits: list[Hit] = []
    size = len(name)
    surname = _folded(name[0])
    for run in _HAN_RUN.finditer(text):
        for i in range(run.start(), run.end() - size + 1):
            if not _folded(text[i]) & surname:  # every match has the surname right
                continue
            heard = text[i : i + size]
            score = _han_score(name, heard)
            if score is not None:
                hits.append(Hit("name", i, i + size, name, score[0], score[0] >= 0.9,
                                f"name {name!r}: {score[1]} ({heard!r})"))  # fmt: skip
    if size == 3 and not hits:
        for m in re.finditer(re.escape(name[1:]), text):
            hits.append(
                Hit("name", m.start(), m.end(), name, 0.5, False, f"given name of {name!r} alone")
            )
    return hits


def _latin_variants(name: str) -> list[str]:
    if _HAN.search(name):
        syllables = [sorted(readings(ch))[0] for ch in name if readings(ch)]
        if len(syllables) < 2:
            return []
        surname, given = syllables[0], "".join(syllables[1:])
        return [f"{surname} {given}", f"{given} {surname}", " ".join(syllables)]
    return [" ".join(_LATIN_TOKEN.findall(name)).lower()]


def _latin_names(text: str, name: str) -> list[Hit]:
    tokens = list(_LATIN_TOKEN.finditer(text))
    lowered = [t.group(0).lower() for t in tokens]
    hits: list[Hit] = []
    for variant in _latin_variants(name):
        parts = variant.split()
        if not parts:
            continue
        # The name word for word, and (several parts) run together in one token.
        wanted = {len(parts): variant, 1: variant.replace(" ", "")}
        for size, target in wanted.items():
            for i in range(len(tokens) - size + 1):
                heard = " ".join(lowered[i : i + size])
                score = fuzz.ratio(heard, target, score_cutoff=_LATIN_WHOLE)
                if score:
                    window = tokens[i : i + size]
                    hits.append(
                        Hit(
                            "name",
                            window[0].start(),
                            window[-1].end(),
                            name,
                            round(score / 100, 3),
                            score >= 95,
                            f"name {name!r}: {heard!r} ({score:.0f}% alike)",
                        )
                    )
        for part in parts if len(parts) > 1 else []:
            if len(part) < 4:
                continue
            for t, word in zip(tokens, lowered, strict=True):
                score = fuzz.ratio(word, part, score_cutoff=_LATIN_PART)
                if score:
                    hits.append(
                        Hit(
                            "name",
                            t.start(),
                            t.end(),
                            name,
                            0.55,
                            False,
                            f"part {part!r} of name {name!r} ({score:.0f}% alike)",
                        )
                    )
    return hits


def find_names(text: str, names: Sequence[str]) -> list[Hit]:
    """Where the listed names are heard in `text` (the stream's own text, not normalised)."""
    hits: list[Hit] = []
    for raw in names:
        name = re.sub(r"[\s·•.]", "", raw) if _HAN.search(raw) else raw.strip()
        if not name:
            continue
        han = "".join(ch for ch in name if _HAN.match(ch))
        if len(han) >= 2 and han == name:
            hits.extend(_han_names(text, han))
        hits.extend(_latin_names(text, name))
    return hits
