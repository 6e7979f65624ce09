"""Finding phrases in recognised speech, tolerant of recognition errors.

Shared by the required-statement check (`cases.statements`) and the language rules
(`cases.language`). A transcript becomes a stream of tokens with times: one token per Han
character (compared by its toneless pinyin, so homophones match, and near-homophones that
speakers and recognisers confuse, zh/z, l/n, -ng/-n ..., almost match; traditional
characters are read as simplified) and one per Latin word (compared with rapidfuzz, so
"defense"/"defence" count as near, and by a rough sound key, so "ceasing" for "seizing"
or "herring" for "hearing" do too; contractions are read as the words they stand for).

A phrase is found by a semi-global alignment (the whole phrase against any stretch of
the transcript) whose costs are weighted: function words ("the", "to", 的, 你) weigh less
than content words, so "you have the right to state ..." does not pass for "you have the
right to a hearing". The score is 1 - cost / weight of the phrase: 1.0 for the phrase as
written, lower for every word missed, misheard or inserted. "…" in a phrase stands for a
few words that vary (the agency's name, the goods): its parts are found in order, close
together.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from rapidfuzz import fuzz

from models.speech.pii_text import fold, readings
from models.speech.transcribe import Segment
from models.speech.trust import to_simplified

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[a-z0-9]+(?:'[a-z]+)?")
_GAP = re.compile(r"\s*(?:…|\.\.\.)\s*")
# Function words weigh less: hearing or missing one says little about the statement.
_EN_LIGHT = frozenset(
    "a an the to of and or in on at for is are be been am i you we he she it they this that "
    "your my our me us them have has do does will shall may can please just so".split()
)
_ZH_LIGHT = frozenset("的了是我你他她们这那在和对有就都也要把被给请吗呢吧啊")
_LIGHT = 0.35
# An extra word heard inside the phrase (speakers add, recognition splits): light or not,
# since a phrase stretched by several small words is no longer the phrase.
_INSERT = 0.45
_MAX_GAP = {"zh": 24, "en": 12}  # tokens a "…" may stand for


@dataclass(frozen=True)
class Token:
    form: str  # a simplified Han character or a lower-case Latin word
    zh: bool
    start: float = 0.0
    end: float = 0.0
    segment: int = 0  # index of the segment it was heard in
    word: int = -1  # index of the word within the segment; -1: the segment has no words
    # A phrase's Han character: its reading in the phrase (行 in 进行 is xing, not hang).
    # A heard character keeps all its readings: the recogniser may have picked it for any.
    reading: str = ""

    @property
    def weight(self) -> float:
        light = self.form in (_ZH_LIGHT if self.zh else _EN_LIGHT)
        return _LIGHT if light else 1.0


@dataclass(frozen=True)
class Phrase:
    text: str
    parts: tuple[tuple[Token, ...], ...]

    @property
    def zh(self) -> bool:
        return self.parts[0][0].zh


@dataclass(frozen=True)
class Match:
    phrase: str
    score: float  # 0..1
    first: int  # index of the first and last matched token in the stream
    last: int
    start: float  # seconds
    end: float


def normalise(text: str) -> str:
    """NFKC, lower case, traditional characters as simplified, curly apostrophes straight."""
    text = to_simplified(unicodedata.normalize("NFKC", text)).lower()
    return text.replace("\u2019", "'").replace("\u2018", "'")


# Contractions as the words they stand for: a checklist says "you are", people "you're".
_CONTRACTIONS = {"'re": "are", "'m": "am", "'ve": "have", "'ll": "will", "'d": "would"}
_NOT = {"can't": ("can", "not"), "won't": ("will", "not"), "shan't": ("shall", "not")}


# 's is "is" after these; after a noun it is a possessive ("the officer's card").
_IS_AFTER = frozenset("here there it that this what who he she".split())


def _words(token: str) -> tuple[str, ...]:
    if token in _NOT:
        return _NOT[token]
    if token.endswith("n't"):
        return token[:-3], "not"
    head, _, tail = token.partition("'")
    spelled = _CONTRACTIONS.get("'" + tail) if tail else None
    if tail == "s" and head in _IS_AFTER:
        spelled = "is"
    return (head, spelled) if spelled else (token,)


def tokens_of(text: str) -> list[Token]:
    out: list[Token] = []
    for m in _TOKEN.finditer(normalise(text)):
        form = m.group(0)
        if _HAN.match(form):
            out.append(Token(form, True))
        else:
            out.extend(Token(w, False) for w in _words(form) if w)
    return out


def _read_in_context(tokens: list[Token]) -> tuple[Token, ...]:
    # Imported here: pypinyin's dictionaries take half a second to load, paid by every CLI
    # command that only imports this module.
    from pypinyin import Style, lazy_pinyin

    han = "".join(t.form for t in tokens if t.zh)
    said = iter(lazy_pinyin(han, style=Style.NORMAL, errors="ignore") if han else [])
    return tuple(replace(t, reading=next(said, "")) if t.zh else t for t in tokens)


def compile_phrase(text: str) -> Phrase | None:
    """A phrase from the checklist; None when it has nothing to match."""
    parts = tuple(
        _read_in_context(tokens) for part in _GAP.split(text) if (tokens := tokens_of(part))
    )
    if not parts:
        return None
    return Phrase(text, parts)


def segment_tokens(segments: Sequence[Segment]) -> list[Token]:
    """The tokens of a transcript, each timed by its word (shared out over the word's
    characters), or by the segment where it has no word times."""
    out: list[Token] = []
    for s_idx, seg in enumerate(segments):
        pieces: Iterable[tuple[int, str, float, float]]
        if seg.words:
            pieces = ((i, w.text, w.start, w.end) for i, w in enumerate(seg.words))
        else:
            pieces = [(-1, seg.text, seg.start, seg.end)]
        for w_idx, text, start, end in pieces:
            found = tokens_of(text)
            step = (end - start) / max(1, len(found))
            for k, tok in enumerate(found):
                a = start + k * step
                out.append(Token(tok.form, tok.zh, a, a + step, s_idx, w_idx))
    return out


def heard_text(segments: Sequence[Segment], stream: Sequence[Token], first: int, last: int) -> str:
    """The words as recognised (original characters) from token `first` to `last`."""
    a, b = stream[first], stream[last]
    parts: list[str] = []
    for s_idx in range(a.segment, b.segment + 1):
        seg = segments[s_idx]
        if not seg.words:
            parts.append(seg.text.strip())
            continue
        lo = a.word if s_idx == a.segment and a.word >= 0 else 0
        hi = b.word if s_idx == b.segment and b.word >= 0 else len(seg.words) - 1
        parts.append("".join(w.text for w in seg.words[lo : hi + 1]).strip())
    return " ".join(p for p in parts if p)


# --- token similarity -------------------------------------------------------------------


@lru_cache(maxsize=65536)
def _zh_cost(want: str, reading: str, heard: str) -> float:
    if want == heard:
        return 0.0
    a, b = ({reading} if reading else readings(want)), readings(heard)
    if not a or not b:
        return 1.0
    if a & b:
        return 0.05  # a homophone: recognition picked another character for the sound
    fa, fb = {fold(r) for r in a}, {fold(r) for r in b}
    if fa & fb:
        return 0.2  # zh/z, ch/c, sh/s, l/n, f/h, -ng/-n
    best = max(fuzz.ratio(x, y) for x in fa for y in fb)
    return 0.5 if best >= 75 else 1.0  # one sound off (bian/pian, quan/juan)


_SOUND_RULES = (
    (re.compile(r"ph"), "f"),
    (re.compile(r"ck|q"), "k"),
    (re.compile(r"c(?=[eiy])"), "s"),
    (re.compile(r"c"), "k"),
    (re.compile(r"x"), "ks"),
    (re.compile(r"z"), "s"),
    (re.compile(r"gh|h(?![aeiou])|(?<=[a-z])h"), ""),
    (re.compile(r"[aeiouy]+"), "a"),  # vowels: recognisers and speakers blur them most
    (re.compile(r"(.)\1+"), r"\1"),
)


@lru_cache(maxsize=65536)
def sound(word: str) -> str:
    """A rough English sound key: 'seizing' and 'ceasing' are both 'sasang'."""
    key = word
    for pattern, repl in _SOUND_RULES:
        key = pattern.sub(repl, key)
    return key


@lru_cache(maxsize=65536)
def _en_cost(want: str, heard: str) -> float:
    if want == heard:
        return 0.0
    ratio = fuzz.ratio(want, heard)
    if ratio >= 85:
        return 0.2
    long_enough = min(len(want), len(heard)) >= 4
    if long_enough and sound(want) == sound(heard):
        return 0.2  # a near-homophone (seizing, ceasing) as recognition writes one for another
    if ratio >= 70 and long_enough:
        return 0.5
    return 1.0


def cost(want: Token, heard: Token) -> float:
    """0 (the same) .. 1 (unrelated): what hearing `heard` for `want` costs."""
    if want.zh != heard.zh:
        return 1.0
    if want.zh:
        return _zh_cost(want.form, want.reading, heard.form)
    return _en_cost(want.form, heard.form)


# --- alignment --------------------------------------------------------------------------


def _reachable(part: Sequence[Token], vocabulary: frozenset[str], min_score: float) -> bool:
    """False when even the best alignment cannot reach `min_score`: every phrase token with
    no near token anywhere in the transcript costs at least half its weight."""
    total = sum(t.weight for t in part)
    floor = 0.0
    for t in part:
        near = min((cost(t, Token(v, t.zh)) for v in vocabulary), default=1.0)
        floor += t.weight * (0.5 if near >= 0.5 else 0.0)
    return 1.0 - floor / total >= min_score


def align(part: Sequence[Token], stream: Sequence[Token], min_score: float) -> list[Match]:
    """Every stretch of `stream` where `part` scores at least `min_score`, best first,
    overlapping stretches dropped."""
    m = len(part)
    total = sum(t.weight for t in part)
    budget = (1.0 - min_score) * total
    weights = [t.weight for t in part]
    # prev[i] / cur[i]: (cost, start) of aligning part[:i] ending at the current position.
    prev: list[tuple[float, int]] = [(0.0, 0)]
    for i in range(1, m + 1):
        prev.append((prev[i - 1][0] + weights[i - 1], 0))
    found: list[tuple[float, int, int]] = []
    for j, heard in enumerate(stream, start=1):
        cur: list[tuple[float, int]] = [(0.0, j)]
        ins = _INSERT
        for i in range(1, m + 1):
            # On a tie a phrase word counts as not heard rather than misheard, so that a
            # match does not begin or end on an unrelated word.
            best = (cur[i - 1][0] + weights[i - 1], cur[i - 1][1])
            sub = prev[i - 1][0] + cost(part[i - 1], heard) * weights[i - 1]
            if sub < best[0] - 1e-9:
                best = (sub, prev[i - 1][1])
            insert = prev[i][0] + ins
            if insert < best[0]:
                best = (insert, prev[i][1])
            cur.append(best)
        if cur[m][0] <= budget + 1e-9 and cur[m][1] < j:
            found.append((cur[m][0], cur[m][1], j - 1))
        prev = cur
    found.sort(key=lambda f: (round(f[0], 9), f[1], f[2]))
    taken: list[Match] = []
    for c, first, last in found:
        if any(first <= t.last and t.first <= last for t in taken):
            continue
        taken.append(
            Match("", round(1.0 - c / total, 3), first, last, stream[first].start, stream[last].end)
        )
    return taken


_SHORT_WEIGHT = 5.0  # phrases lighter than this (four characters, three words) ...
_SHORT_MIN = 0.8  # ... need this much: one word of four missing is another phrase


def find(phrase: Phrase, stream: Sequence[Token], min_score: float) -> list[Match]:
    """Where `phrase` is heard in `stream` (tokens of one voice), in time order."""
    if sum(_weight(p) for p in phrase.parts) < _SHORT_WEIGHT:
        min_score = max(min_score, _SHORT_MIN)
    vocabulary = frozenset(t.form for t in stream if t.zh == phrase.zh)
    if not vocabulary or not all(_reachable(p, vocabulary, min_score) for p in phrase.parts):
        return []
    chains = [
        (m.score * _weight(phrase.parts[0]), m) for m in align(phrase.parts[0], stream, min_score)
    ]
    chains_out: list[tuple[float, Match, Match]] = [(s, m, m) for s, m in chains]
    gap = _MAX_GAP["zh" if phrase.zh else "en"]
    for part in phrase.parts[1:]:
        hits = align(part, stream, min_score)
        longer: list[tuple[float, Match, Match]] = []
        for score, head, tail in chains_out:
            after = [h for h in hits if tail.last < h.first <= tail.last + 1 + gap]
            if after:
                best = max(after, key=lambda h: (h.score, -h.first))
                longer.append((score + best.score * _weight(part), head, best))
        chains_out = longer
    total = sum(_weight(p) for p in phrase.parts)
    out = [
        Match(phrase.text, round(score / total, 3), head.first, tail.last, head.start, tail.end)
        for score, head, tail in chains_out
    ]
    return sorted(out, key=lambda m: m.first)


def _weight(part: Sequence[Token]) -> float:
    return sum(t.weight for t in part)


def best_matches(
    phrases: Sequence[Phrase], stream: Sequence[Token], min_score: float
) -> list[Match]:
    """Where any of `phrases` is heard: per stretch of speech the best-scoring phrase, in
    time order (two phrasings of one statement heard at the same place count once)."""
    every = [m for p in phrases for m in find(p, stream, min_score)]
    every.sort(key=lambda m: (-m.score, m.first))
    kept: list[Match] = []
    for m in every:
        if not any(m.first <= k.last and k.first <= m.last for k in kept):
            kept.append(m)
    return sorted(kept, key=lambda m: m.first)
