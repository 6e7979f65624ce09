"""Numbers in recognised speech: digits back from words, digit runs, cues, validation, plates.

Everything here works on one stream of text (the words of one voice, joined) and returns
`Hit`s with character offsets into that text; `models.speech.pii` turns them into timed findings.

How a spoken number is read back:
- `normalise` rewrites Chinese numerals (一二三, 幺, 两, 零/〇, 洞/拐 beside other digits),
  full-width digits and English digit words ("oh", "double eight", "triple five") as ASCII
  digits, keeping for every character of the result the span of the text it came from.
- A digit run is digits with a few separators between them (spaces, dashes, dots, commas,
  segment joins); two runs with a filler or a garbled scrap between them ("uh", "double i")
  are one run, since recognition leaves such scraps inside spoken numbers.
- Validation (GB 11643 check digit, Luhn, phone formats) raises confidence and names the
  kind; it never decides alone: any run of six digits is flagged, and a run of five after a
  cue word (身份证, 手机, 卡号, "number" ...) is flagged with the cue's kind.
- Dates, year ranges, amounts with thousands separators, decimals and counts followed by a
  unit (元, 年, 个 ...) are left alone unless a cue or a validator says otherwise.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

Kind = str  # id_card | mobile | landline | bank_card | plate | email | name | number

# How specific each kind is, for choosing between overlapping hits.
KIND_RANK = {
    "id_card": 7,
    "bank_card": 6,
    "mobile": 5,
    "landline": 5,
    "email": 5,
    "plate": 4,
    "name": 3,
    "number": 1,
}

MIN_DIGITS = 6  # a run this long is flagged whatever it looks like
MIN_CUED_DIGITS = 5  # ... and this long after a cue word
CUE_WINDOW = 16  # characters between the end of a cue and the number it announces


@dataclass(frozen=True)
class Hit:
    """Something to redact, as character offsets [start, end) into one stream's text."""

    kind: Kind
    start: int
    end: int
    normalised: str
    confidence: float
    validated: bool
    reason: str


# --- normalisation -----------------------------------------------------------------------

_ZH_DIGITS = {
    "零": "0", "〇": "0", "○": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "兩": "2",
    "三": "3", "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
    "壹": "1", "贰": "2", "貳": "2", "叁": "3", "參": "3", "肆": "4", "伍": "5", "陆": "6",
    "陸": "6", "柒": "7", "捌": "8", "玖": "9",
}  # fmt: skip
# Radio speech: 洞 (0) and 拐 (7) are digits only next to other digits.
_WEAK_DIGITS = {"洞": "0", "拐": "7"}
_EN_DIGITS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "naught": "0", "nil": "0", "one": "1",
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9",
}  # fmt: skip
_REPEAT = {"double": 2, "triple": 3}
_EN_WORD = re.compile(
    r"(?<![A-Za-z])(" + "|".join(sorted([*_EN_DIGITS, *_REPEAT], key=len, reverse=True)) + r")"
    r"(?![A-Za-z'])",
    re.IGNORECASE,
)
_GAP = r"[\s,\-]{0,3}"  # what may stand between neighbouring digit words
_GAP_RE = re.compile(_GAP)
_GAP_DIGIT = re.compile(_GAP + r"\d")
_DIGIT_GAP_END = re.compile(r"\d" + _GAP + "$")


@dataclass(frozen=True)
class View:
    """Normalised text; `spans[i]` is the [start, end) of the source text char i came from."""

    text: str
    spans: tuple[tuple[int, int], ...]

    def source(self, start: int, end: int) -> tuple[int, int]:
        return self.spans[start][0], self.spans[end - 1][1]


def _weak_digit(text: str, i: int) -> bool:
    """洞 / 拐 at `i` is a digit: its run of such characters touches a real digit."""
    a, b = i, i
    while a > 0 and text[a - 1] in _WEAK_DIGITS:
        a -= 1
    while b + 1 < len(text) and text[b + 1] in _WEAK_DIGITS:
        b += 1
    return any(
        0 <= j < len(text) and (text[j].isdigit() or text[j] in _ZH_DIGITS) for j in (a - 1, b + 1)
    )


def _english_digits(text: str) -> dict[int, tuple[int, str]]:
    """Start of each English digit word -> (its end, the digits it stands for)."""
    found = list(_EN_WORD.finditer(text))
    out: dict[int, tuple[int, str]] = {}

    def next_digit(k: int) -> str | None:
        end = found[k].end()
        gap = _GAP_RE.match(text, end)
        after = gap.end() if gap else end
        if k + 1 < len(found) and found[k + 1].start() == after:
            word = found[k + 1].group(1).lower()
            return _EN_DIGITS.get(word)
        if after < len(text) and text[after].isdigit():
            return text[after]
        return None

    def near(k: int, j: int) -> bool:
        a, b = (found[k], found[j]) if k < j else (found[j], found[k])
        return bool(_GAP_RE.fullmatch(text, a.end(), b.start()))

    for k, m in enumerate(found):
        word = m.group(1).lower()
        if word in _REPEAT:
            digit = next_digit(k)
            if digit is not None:
                out[m.start()] = (m.end(), digit * (_REPEAT[word] - 1))
            continue
        if word in ("oh", "o"):
            before = _DIGIT_GAP_END.search(text[max(0, m.start() - 4) : m.start()])
            after = _GAP_DIGIT.match(text, m.end())
            neighbours = [j for j in (k - 1, k + 1) if 0 <= j < len(found) and near(k, j)]
            if not (before or after or neighbours):
                continue
        out[m.start()] = (m.end(), _EN_DIGITS[word])
    return out


def normalise(text: str) -> View:
    """Digits for spoken digits, ASCII for full-width forms, everything else as it was."""
    words = _english_digits(text)
    chars: list[str] = []
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        if i in words:
            end, digits = words[i]
            for digit in digits:
                chars.append(digit)
                spans.append((i, end))
            i = end
            continue
        ch = text[i]
        if ch in _ZH_DIGITS:
            out = _ZH_DIGITS[ch]
        elif ch in _WEAK_DIGITS and _weak_digit(text, i):
            out = _WEAK_DIGITS[ch]
        else:
            folded = unicodedata.normalize("NFKC", ch)
            out = folded if len(folded) == 1 else ch
        chars.append(out)
        spans.append((i, i + 1))
        i += 1
    return View("".join(chars), tuple(spans))


# --- cues ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cue:
    kind: str  # id_card | phone | bank_card | plate | email | number (no kind of its own)
    start: int
    end: int
    label: str


def _latin(*words: str) -> str:
    return r"(?<![A-Za-z])(?:" + "|".join(words) + r")(?![A-Za-z])"


_PHONE_WORDS = ("phone", "telephone", "mobile", "cell", "call me", "ring me", "text me",
                "reach me", "contact")  # fmt: skip
_CUES: list[tuple[str, re.Pattern[str]]] = [
    ("id_card", re.compile(r"身份证|身份号|公民身份|证件号|身分证")),
    ("id_card", re.compile(_latin("identity", "identification", "social security"), re.I)),
    ("id_card", re.compile(_latin("ID", "I\\.D\\.", "I D"))),
    ("phone", re.compile(r"手机|电话|座机|联系方式|打给我|拨打|致电|热线")),
    ("phone", re.compile(_latin(*_PHONE_WORDS), re.I)),
    ("bank_card", re.compile(r"银行卡|卡号|账号|帐号|账户|帐户|信用卡|储蓄卡")),
    ("bank_card", re.compile(_latin("card", "account", "iban", "sort code"), re.I)),
    ("plate", re.compile(r"车牌|牌照|号牌|车号")),
    ("plate", re.compile(_latin("plate", "registration", "licen[cs]e", "reg"), re.I)),
    ("email", re.compile(r"邮箱|邮件|电邮|邮件地址")),
    ("email", re.compile(_latin("e-?mail", "mail"), re.I)),
    ("number", re.compile(r"号码|编号|号是|护照|微信|工号|学号|证号|QQ", re.I)),
    ("number", re.compile(_latin("number", "no\\.", "passport", "code", "pin"), re.I)),
]


def find_cues(view: View) -> list[Cue]:
    cues = [
        Cue(kind, m.start(), m.end(), m.group(0))
        for kind, pattern in _CUES
        for m in pattern.finditer(view.text)
    ]
    return sorted(cues, key=lambda c: (c.end, c.start))


def cue_before(view: View, cues: Sequence[Cue], at: int, kinds: frozenset[str]) -> Cue | None:
    """The cue announcing what starts at `at`: the nearest of a kind, else a generic one."""
    near = [
        c
        for c in cues
        if c.end <= at
        and at - c.end <= CUE_WINDOW
        and "\n" not in view.text[c.end : at]
        and not re.search(r"\d{3}", re.sub(r"[\s\-]", "", view.text[c.end : at]))
    ]
    specific = [c for c in near if c.kind in kinds]
    if specific:
        return max(specific, key=lambda c: c.end)
    generic = [c for c in near if c.kind == "number"]
    return max(generic, key=lambda c: c.end) if generic else None


# --- validators ---------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_check_char(first17: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits of a resident ID."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def id_valid(number: str) -> bool:
    number = number.upper()
    return bool(re.fullmatch(r"\d{17}[\dX]", number)) and id_check_char(number[:17]) == number[17]


def birth_date_plausible(number: str) -> bool:
    """Digits 7-14 of a resident ID read as a birth date between 1900 and 2039."""
    m = re.fullmatch(r"\d{6}((?:19|20)\d\d)(\d\d)(\d\d)", number[:14])
    return bool(m) and 1 <= int(m.group(2)) <= 12 and 1 <= int(m.group(3)) <= 31 if m else False


def luhn_valid(number: str) -> bool:
    if not number.isdigit() or len(number) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mobile_number(number: str) -> str | None:
    """A Chinese mobile number (11 digits, 1[3-9]...), without any +86 / 0086 prefix."""
    for prefix in ("0086", "86", ""):
        rest = number[len(prefix) :] if number.startswith(prefix) else None
        if rest is not None and re.fullmatch(r"1[3-9]\d{9}", rest):
            return rest
    return None


def landline_number(number: str) -> bool:
    """Area code 0xx / 0xxx with 7-8 digits, or a 400/800 service number."""
    return bool(re.fullmatch(r"0[1-9]\d{8,10}|[48]00\d{7}", number))


# --- digit runs ---------------------------------------------------------------------------

_SEP = " \t\u00a0\u3000-\u2010\u2011\u2013\u2014_.,，、/()（）·•"
_RUN = re.compile(r"\d(?:[" + re.escape(_SEP) + r"]{0,3}\d)*")
_ID_TAIL = re.compile(r"[ \-]?[Xx叉](?![A-Za-z])")
_SPLIT = re.compile("[" + re.escape(_SEP) + "]+")
_FILLERS = frozenset("uh um er erm ah and double triple 嗯 呃 啊 额 唔 那个 就是 是".split())
_UNIT = re.compile(
    r"\s*(?:[元块万千百亿角毛米克吨斤个次人只台辆件份张岁年月日天周秒分%％]|小时|公里|平方|"
    r"(?:dollars?|yuan|usd|rmb|euros?|pounds?|people|percent|meters?|km|kg|years?)(?![A-Za-z]))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Run:
    start: int
    end: int
    digits: str
    groups: tuple[str, ...]
    seps: str


def _make_run(text: str, start: int, end: int) -> _Run:
    body = text[start:end]
    digits = "".join(ch for ch in body if ch.isdigit()) + ("X" if body[-1] in "Xx叉" else "")
    groups = tuple(re.findall(r"\d+", body))
    seps = "".join(ch for ch in body if ch in _SEP and not ch.isspace())
    return _Run(start, end, digits, groups, seps)


def _bridgeable(gap: str) -> bool:
    if "\n" in gap or len(gap) > 14:
        return False
    tokens = [t for t in _SPLIT.split(gap) if t]
    return 1 <= len(tokens) <= 2 and all(
        t.lower() in _FILLERS or (t.isascii() and t.isalpha() and len(t) == 1) for t in tokens
    )


def digit_runs(view: View) -> list[_Run]:
    text = view.text
    spans = [[m.start(), m.end()] for m in _RUN.finditer(text)]
    for span in spans:  # a final X (or 叉) completes a resident ID
        digits = sum(ch.isdigit() for ch in text[span[0] : span[1]])
        tail = _ID_TAIL.match(text, span[1])
        if digits == 17 and tail:
            span[1] = tail.end()
    merged: list[list[int]] = []
    for span in spans:
        if merged:
            last = merged[-1]
            left = sum(ch.isdigit() for ch in text[last[0] : last[1]])
            if left >= 2 and span[1] - span[0] >= 1 and _bridgeable(text[last[1] : span[0]]):
                last[1] = span[1]
                continue
        merged.append(span)
    return [_make_run(text, a, b) for a, b in merged]


def _not_a_number(run: _Run, after: str) -> str | None:
    """Why a run without cue or valid format is something else (a date, an amount ...)."""
    g = run.groups
    lengths = [len(x) for x in g]
    if (
        len(g) == 3
        and run.seps
        and set(run.seps) <= set("-/.")
        and (
            (lengths[0] == 4 and lengths[1] <= 2 and lengths[2] <= 2)
            or (lengths[0] <= 2 and lengths[1] <= 2 and lengths[2] == 4)
        )
    ):
        return "a date"
    if len(g) >= 2 and all(len(x) == 4 and x[:2] in ("19", "20") for x in g):
        return "years"
    if len(g) >= 2 and set(run.seps) == {","} and lengths[0] <= 3 and set(lengths[1:]) == {3}:
        return "an amount with thousands separators"
    if len(g) == 2 and run.seps == ".":
        return "a decimal number"
    if len(g) >= 2 and set(run.seps) == {"、"} and max(lengths) <= 2:
        return "a list of small numbers"
    if len(g) == 1 and _UNIT.match(after):
        return "a quantity (a unit follows)"
    return None


def _classify(digits: str, cue: Cue | None) -> tuple[Kind, float, bool, str]:
    n = len(digits)
    count = f"{n} digits"
    mobile = mobile_number(digits)
    if cue is not None:
        said = f"digit run after {cue.label!r}, {count}"
        if cue.kind == "id_card" and id_valid(digits):
            return "id_card", 0.99, True, f"{said}, check digit valid"
        if cue.kind == "bank_card" and 13 <= n <= 19 and luhn_valid(digits):
            return "bank_card", 0.97, True, f"{said}, Luhn valid"
        if cue.kind == "phone" and mobile:
            return "mobile", 0.97, True, f"{said}, mobile format"
        if cue.kind == "phone" and landline_number(digits):
            return "landline", 0.95, True, f"{said}, landline format"
        if cue.kind == "plate":
            return "plate", 0.75, False, f"{said}: not a full plate but muted anyway"
    if id_valid(digits) and (cue is None or birth_date_plausible(digits)):
        where = f"after {cue.label!r}, " if cue else ""
        return "id_card", 0.95, True, f"{where}{count}, check digit valid"
    if cue is not None and cue.kind != "number":
        kind = cue.kind
        if kind == "phone":
            kind = "landline" if digits.startswith("0") else "mobile"
        note = "check digit invalid" if kind == "id_card" and n == 18 else "not validated"
        return kind, 0.8, False, f"digit run after {cue.label!r}, {count}: {note} but muted anyway"
    where = f"after {cue.label!r}, " if cue else ""
    base = 0.1 if cue else 0.0
    if mobile:
        return "mobile", 0.85 + base, True, f"{where}{count}, mobile format"
    if 16 <= n <= 19 and luhn_valid(digits):
        return "bank_card", 0.8 + base, True, f"{where}{count}, Luhn valid"
    if landline_number(digits):
        return "landline", 0.75 + base, True, f"{where}{count}, landline format"
    if 13 <= n <= 15 and luhn_valid(digits):
        return "bank_card", 0.6 + base, True, f"{where}{count}, Luhn valid"
    if n in (17, 18) and birth_date_plausible(digits):
        note = "check digit invalid" if n == 18 else "a digit short of an ID"
        return "id_card", 0.6 + base, False, f"{where}{count}, birth date inside, {note}"
    confidence = min(0.5 + 0.02 * (n - MIN_DIGITS), 0.7) + base
    return "number", confidence, False, f"{where}{count}: no known format, muted anyway"


def find_numbers(view: View, cues: Sequence[Cue]) -> list[Hit]:
    hits: list[Hit] = []
    kinds = frozenset({"id_card", "phone", "bank_card", "plate"})
    for run in digit_runs(view):
        n = len(run.digits)
        if n < MIN_CUED_DIGITS:
            continue
        cue = cue_before(view, cues, run.start, kinds)
        if cue is None and n < MIN_DIGITS:
            continue
        kind, confidence, validated, reason = _classify(run.digits, cue)
        if cue is None and not validated:
            why_not = _not_a_number(run, view.text[run.end : run.end + 12])
            if why_not is not None:
                continue
        start, end = view.source(run.start, run.end)
        hits.append(
            Hit(kind, start, end, run.digits, round(min(confidence, 1.0), 3), validated, reason)
        )
    return hits


# --- licence plates -----------------------------------------------------------------------

_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领"
_CN_PLATE = re.compile(
    rf"[{_PROVINCES}][A-Za-z](?:[A-Z0-9]{{5,6}}|[A-Z0-9]{{4}}[挂学警港澳领试超])(?![A-Za-z0-9])"
)
_COMPACT_DROP = frozenset(" \t\u00a0-\u2010\u2011·•.")
_LATIN_GROUP = re.compile(r"(?<![A-Za-z0-9])[A-Z0-9]+(?:[ \-·.][A-Z0-9]+)*(?![A-Za-z0-9])")
_LATIN_FORMATS = [
    re.compile(p)
    for p in (
        r"[A-Z]{2}\d{2}[A-Z]{3}",  # UK current
        r"[A-Z]\d{1,3}[A-Z]{3}",  # UK prefix
        r"[A-Z]{3}\d{1,3}[A-Z]",  # UK suffix
        r"\d[A-Z]{3}\d{3}",  # California
        r"[A-Z]{3}\d{3,4}",  # many US states, Canada
        r"[A-Z]{1,3}\d{4}[A-Z]{1,3}",  # Indonesia, Thailand ...
        r"[A-Z]{2}\d{3}[A-Z]{2}",  # France, Italy
    )
]


def _compact(view: View) -> tuple[str, list[int]]:
    keep = [i for i, ch in enumerate(view.text) if ch not in _COMPACT_DROP]
    return "".join(view.text[i] for i in keep), keep


def find_plates(view: View, cues: Sequence[Cue]) -> list[Hit]:
    hits: list[Hit] = []
    plate_cue = frozenset({"plate"})
    text, keep = _compact(view)
    for m in _CN_PLATE.finditer(text):
        tail = m.group(0)[2:]
        if sum(ch.isdigit() for ch in tail) < 2:
            continue
        first, last = keep[m.start()], keep[m.end() - 1] + 1
        start, end = view.source(first, last)
        cue = cue_before(view, cues, first, plate_cue)
        confidence = 0.97 if cue and cue.kind == "plate" else 0.9
        hits.append(
            Hit(
                "plate",
                start,
                end,
                m.group(0).upper(),
                confidence,
                True,
                "Chinese plate format (province, letter, 5-6 characters)",
            )
        )
    for m in _LATIN_GROUP.finditer(view.text):
        plate = re.sub(r"[ \-·.]", "", m.group(0))
        letters = sum(ch.isalpha() for ch in plate)
        if not (4 <= len(plate) <= 8 and letters >= 1 and len(plate) - letters >= 1):
            continue
        cue = cue_before(view, cues, m.start(), plate_cue)
        fits = len(plate) >= 6 and any(f.fullmatch(plate) for f in _LATIN_FORMATS)
        if cue is not None and cue.kind == "plate":
            reason = f"after {cue.label!r}, " + ("plate format" if fits else "letters and digits")
            confidence = 0.9 if fits else 0.75
        elif fits:
            reason, confidence = "Latin plate format", 0.55
        else:
            continue
        start, end = view.source(m.start(), m.end())
        hits.append(Hit("plate", start, end, plate, confidence, fits, reason))
    return hits
