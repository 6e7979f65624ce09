"""Spoken PII: text cases built from words with times, and real Whisper transcripts.

The real transcripts are of synthetic speech: Mandarin from ../shared/media/speech/zh-tts
(Whisper hears nothing in espeak-ng's Mandarin), English made here with espeak-ng. Whisper
base garbles their numbers (a digit lost, groups merged), which is the point: each number
must still be found, with a mute span over the words that carry its digits.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from models.speech.audio import SAMPLE_RATE
from models.speech.pii import (
    KINDS,
    PiiFinding,
    find_pii,
    find_pii_in_segments,
    redact_segment_text,
    redact_segments,
    redact_transcript,
)
from models.speech.pii_numbers import id_check_char, luhn_valid, normalise
from models.speech.transcribe import Segment, TranscribeOptions, Transcript, Word, transcribe_chunks
from models.speech.whisper import LoadedWhisper
from tests.models.speech_fixtures import base_model, ffmpeg, load_16k, speech
from tests.needs import unavailable

_HAN = re.compile(r"[\u4e00-\u9fff]")


def seg(text: str, start: float = 0.0, step: float = 0.2, channel: int | None = None) -> Segment:
    """A segment as Whisper gives it: one word per Han character, English words with a
    leading space, digit groups and punctuation attached to their word."""
    tokens = re.findall(r"[\u4e00-\u9fff]|[^\u4e00-\u9fff\s]+|\s+[^\u4e00-\u9fff\s]+", text)
    words, t = [], start
    for token in tokens:
        words.append(Word(round(t, 3), round(t + step, 3), token, 0.9))
        t += step
    return Segment(
        start=start,
        end=round(t, 3),
        text="".join(w.text for w in words).strip(),
        language="zh" if _HAN.search(text) else "en",
        language_probability=0.99,
        avg_logprob=-0.2,
        no_speech_prob=0.01,
        compression_ratio=1.1,
        confidence=0.9,
        speech_ratio=0.9,
        words=words,
        channel=channel,
    )


def find(*texts: str, names: tuple[str, ...] = (), margin_s: float = 0.25) -> list[PiiFinding]:
    segments, t = [], 0.0
    for text in texts:
        segments.append(seg(text, start=t))
        t = segments[-1].end + 0.3
    found = find_pii_in_segments(segments, names=names, margin_s=margin_s)
    for f in found:
        assert f.kind in KINDS and 0.0 <= f.confidence <= 1.0 and f.reason, f
        assert 0.0 <= f.start <= f.end
    return found


def one(*texts: str, names: tuple[str, ...] = ()) -> PiiFinding:
    found = find(*texts, names=names)
    assert len(found) == 1, found
    return found[0]


# --- numbers ------------------------------------------------------------------------------


def test_mobile_in_chinese_numerals_with_word_exact_times() -> None:
    s = seg("我的手机号是一三八零零一三八零零零，有事打给我。")
    (f,) = find_pii_in_segments([s], margin_s=0.25)
    assert (f.kind, f.normalised, f.validated) == ("mobile", "13800138000", True)
    assert f.text == "一三八零零一三八零零零"
    assert f.word_range == (6, 16) and f.segment_index == 0
    assert f.start == pytest.approx(s.words[6].start - 0.25)
    assert f.end == pytest.approx(s.words[16].end + 0.25)
    assert "手机" in f.reason


@pytest.mark.parametrize(
    ("text", "kind", "digits"),
    [
        ("电话幺三八两两〇〇幺三八〇", "mobile", "13822001380"),
        ("请拨打010-6234-5678找我", "landline", "01062345678"),
        ("号码是 138 0013 8000", "mobile", "13800138000"),
        ("呼叫幺三八洞洞幺三八洞洞洞", "mobile", "13800138000"),
        ("+86 138-0013-8000", "mobile", "8613800138000"),
        ("call me on one three eight double oh one three eight triple oh", "mobile",
         "13800138000"),
        ("my phone number is oh seven seven double nine one two three four five six",
         "landline", "07799123456"),
        ("the number is 0 2 0 7 9 4 6 0 0 0 0", "landline", "02079460000"),
        ("我的手机号是13800-13800", "mobile", "1380013800"),  # a digit lost: still muted
    ],
)  # fmt: skip
def test_phone_numbers_however_spoken(text: str, kind: str, digits: str) -> None:
    f = one(text)
    assert (f.kind, f.normalised) == (kind, digits)
    assert f.validated == (len(digits) >= 11)


def test_english_number_with_a_garbled_scrap_inside_is_one_run() -> None:
    # Whisper on "oh seven seven double nine one two three four five six".
    f = one("My phone number is 077 double i1 2 3 4 5 6")
    assert f.text == "077 double i1 2 3 4 5 6"
    assert f.normalised == "077123456" and not f.validated
    assert "not validated" in f.reason


def test_resident_id_check_digit() -> None:
    assert id_check_char("11010519880815231") == "4"
    f = one("我的身份证号码是110105198808152314")
    assert (f.kind, f.validated, f.confidence) == ("id_card", True, 0.99)
    assert "check digit valid" in f.reason
    with_x = one("证件号11010519491231002X。")
    assert (with_x.kind, with_x.normalised, with_x.validated) == (
        "id_card", "11010519491231002X", True)  # fmt: skip
    spoken_x = one("身份证一一零一零五一九四九一二三一零零二叉")
    assert spoken_x.normalised == "11010519491231002X" and spoken_x.validated
    bare = one("110105198808152314")  # no cue: the check digit says what it is
    assert bare.kind == "id_card" and bare.validated


def test_garbled_id_after_its_cue_is_muted_anyway() -> None:
    # Whisper base on id_card.wav: a digit lost, 17 left.
    f = one("我的身份证号码是10105198808152314")
    assert f.kind == "id_card" and not f.validated
    assert f.normalised == "10105198808152314"
    assert "17 digits" in f.reason and "muted anyway" in f.reason
    wrong = one("身份证号码是110105198808152315")
    assert wrong.kind == "id_card" and not wrong.validated
    assert "check digit invalid" in wrong.reason


def test_bank_cards_luhn() -> None:
    assert luhn_valid("6222021234567890128") and not luhn_valid("6222021234567890129")
    good = one("卡号是6222 0212 3456 7890 128")
    assert (good.kind, good.validated) == ("bank_card", True)
    assert one("6222021234567890128").kind == "bank_card"  # no cue, Luhn valid
    bad = one("6222021234567890129")  # no cue, Luhn invalid: still flagged
    assert (bad.kind, bad.validated) == ("number", False)
    cued = one("退款打到我的银行卡，卡号是622-2021-234567-890-28")
    assert (cued.kind, cued.validated) == ("bank_card", False)
    assert cued.normalised == "622202123456789028"
    english = one("My card number is 4532-0151-1283-0366.")
    assert (english.kind, english.validated) == ("bank_card", True)


@pytest.mark.parametrize(
    "text",
    [
        "订单号是123456",
        "他说一二三四五六七八九十",
        "QQ号是12345678",
        "room 12, code 55555",  # five digits after a cue
        "I said 4 8 15 16 23 42",
    ],
)
def test_other_long_digit_runs_are_flagged_as_numbers(text: str) -> None:
    f = one(text)
    assert f.kind == "number" and not f.validated


@pytest.mark.parametrize(
    "text",
    [
        "2026年11月3日14点30分开会。",
        "今天是二零二六年十一月三日，下午两点三十分。",
        "罚款5000元，共计100000元。",
        "价格是12.50元，时间14:30:00。",
        "我今年35岁，住在3号楼502室。",
        "依据第3、4、5、6、7、8条。",
        "现在依法对你的货物实施查封，全程录音录像。",
        "the meeting is on 2026-11-03 at 14 30",
        "he paid 1,000,000 dollars in 2019-2020",
        "in 2019 2020 and 2021 we grew 3.1415926 times",
        "one of them said two things, oh well",
        "I was born in 1990. 2345 people came",
        "go to www.baidu.com today",
        "车牌 12",
    ],
)
def test_no_pii_here(text: str) -> None:
    assert find(text) == []


def test_a_number_split_across_segments_is_found_whole() -> None:
    first = seg("我的手机号是138")
    second = seg("0013 8000，谢谢。", start=first.end + 0.4)
    segments = [first, second]
    (f,) = find_pii_in_segments(segments)
    assert (f.kind, f.normalised, f.validated) == ("mobile", "13800138000", True)
    assert [p.segment_index for p in f.parts] == [0, 1]
    assert f.start == pytest.approx(first.words[6].start - 0.25)
    assert f.end == pytest.approx(second.words[1].end + 0.25)
    redacted = redact_segments(segments, [f])
    assert [s.text for s in redacted] == ["我的手机号是＊＊＊", "＊＊＊＊ ＊＊＊＊，谢谢。"]
    assert segments[0].text == "我的手机号是138"  # the originals are untouched


def test_segments_far_apart_or_of_other_voices_are_not_joined() -> None:
    a = seg("手机号是138")
    later = seg("0013，好的", start=a.end + 10.0)
    assert find_pii_in_segments([a, later]) == []
    left = seg("我的手机号是138", channel=0)
    right = seg("0013 8000", start=left.end + 0.1, channel=1)
    found = find_pii_in_segments([left, right])
    assert [f.channel for f in found] == [1] and found[0].normalised == "00138000"


def test_times_clamped_to_the_audio() -> None:
    s = seg("13800138000 是我的")
    transcript = Transcript("rec", 1, "a:1", "done", language="zh", duration_s=s.end,
                            segments=[s, seg("电话13800138000", start=s.end + 0.1)])  # fmt: skip
    transcript.duration_s = transcript.segments[-1].end + 0.1
    first, last = find_pii(transcript, margin_s=0.5)
    assert first.start == 0.0 and first.stream_index == 1
    assert last.end == pytest.approx(transcript.duration_s)


def test_a_segment_without_word_times_is_muted_whole() -> None:
    s = seg("我的手机号是13800138000")
    s.words = []
    (f,) = find_pii_in_segments([s], margin_s=0.0)
    assert f.word_range is None and (f.start, f.end) == (s.start, s.end)
    assert redact_segment_text(s, 0, [f]) == "我的手机号是＊＊＊＊＊＊＊＊＊＊＊"


def test_normalise_keeps_where_each_digit_came_from() -> None:
    view = normalise("oh seven double nine 幺两")
    assert view.text == "0 7 9 9 12"
    assert view.source(4, 7) == (9, 20)  # "double nine"


# --- plates, e-mail, names ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "plate", "validated"),
    [
        ("那辆车的车牌号是京A12345", "京A12345", True),
        ("车牌是京A一二三四五，停在门口", "京A12345", True),
        ("新能源车粤B·D12345", "粤BD12345", True),
        ("那辆车的车牌号是件12345", "12345", False),
        ("那辆车的车牌耗时间123-4-5", "12345", False),
        ("The car registration is a B-1-2-C-D-E.", "B12CDE", True),
        ("a silver car, AB12 CDE, drove off", "AB12CDE", True),
    ],
)
def test_plates(text: str, plate: str, validated: bool) -> None:
    f = one(text)
    assert (f.kind, f.normalised, f.validated) == ("plate", plate, validated)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("write to li.wei@example.com today", "li.wei@example.com"),
        ("email me at john dot smith at example dot com", "john.smith@example.com"),
        ("我的邮箱是zhangsan艾特qq点com", "zhangsan@qq.com"),
        ("邮箱是幺二三四五六七艾特qq点com", "1234567@qq.com"),
        ("You can email me at john.smithavelinple.com", "john.smithavelinple.com"),
        ("Please write to john.smith and ample.com.", "john.smithandample.com"),
    ],
)
def test_email_addresses(text: str, address: str) -> None:
    f = one(text)
    assert (f.kind, f.normalised) == ("email", address)


@pytest.mark.parametrize(
    ("text", "name", "heard"),
    [
        ("我叫张伟，住在这里", "张伟", "张伟"),
        ("我叫章伟，住在这里", "张伟", "章伟"),  # homophone
        ("是詹伟说的", "张伟", "詹伟"),  # zhan / zhang
        ("李小明来了", "李晓明", "李小明"),
        ("晓明来了", "李晓明", "晓明"),  # the given name alone
        ("I spoke to Jon Smith yesterday", "John Smith", "Jon Smith"),
        ("I spoke to Mr Smyth", "John Smith", "Smyth"),
        ("his name is Zhang Wei", "张伟", "Zhang Wei"),
    ],
)
def test_listed_names_heard_fuzzily(text: str, name: str, heard: str) -> None:
    f = one(text, names=(name,))
    assert (f.kind, f.normalised, f.text) == ("name", name, heard)


def test_names_not_listed_or_not_alike_are_left() -> None:
    assert find("我叫赵伟，他叫王刚", names=("张伟", "李晓明")) == []
    assert find("we joined them at the station", names=("John Smith",)) == []
    assert find("我叫张伟") == []  # no names listed


# --- transcript redaction -----------------------------------------------------------------


def test_redact_transcript_masks_text_and_words_only_where_found() -> None:
    segments = [seg("我叫张伟，电话13800138000。"), seg(" call 138 0013 8000 now", start=3.0)]
    transcript = Transcript("rec", 1, "a:1", "done", language="zh", segments=segments)
    found = find_pii(transcript, names=["张伟"])
    assert [f.kind for f in found] == ["name", "mobile", "mobile"]
    redacted = redact_transcript(transcript, found)
    assert redacted.segments[0].text == "我叫＊＊，电话＊＊＊＊＊＊＊＊＊＊＊。"
    assert redacted.segments[1].text == "call ＊＊＊ ＊＊＊＊ ＊＊＊＊ now"
    assert [w.text for w in redacted.segments[1].words] == [
        " call", " ＊＊＊", " ＊＊＊＊", " ＊＊＊＊", " now"]  # fmt: skip
    assert transcript.segments[0].text == "我叫张伟，电话13800138000。"
    tagged = redact_transcript(transcript, found, mask="[redacted]")
    assert tagged.segments[0].text == "我叫[redacted]，电话[redacted]。"


def test_redaction_when_the_text_differs_from_its_words() -> None:
    s = seg("电话13800138000")
    (f,) = find_pii_in_segments([s])
    s.text = "电话：13800138000！"
    assert redact_segment_text(s, 0, [f]) == "电话：＊＊＊＊＊＊＊＊＊＊＊！"


# --- real transcripts ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedWhisper:
    return base_model(tmp_path_factory)


def _digit_words(segments: list[Segment]) -> list[Word]:
    """Words that are (part of) a spoken number: digits, or numerals only ("一下" is not)."""
    return [
        w
        for s in segments
        for w in s.words
        if re.search(r"\d", w.text) or re.fullmatch(r"[\d\W]+", normalise(w.text).text)
    ]


def _assert_covers(found: list[PiiFinding], words: list[Word], duration_s: float) -> PiiFinding:
    """One finding whose mute span covers every word carrying a digit, inside the clip."""
    assert words, "no digits recognised at all"
    covering = [f for f in found if all(f.start <= w.start and w.end <= f.end for w in words)]
    assert covering, (found, words)
    f = covering[0]
    assert 0.0 <= f.start < f.end <= duration_s + 1e-6
    return f


@pytest.mark.media
@pytest.mark.parametrize(
    ("clip", "kinds"),
    [
        ("phone.wav", {"mobile"}),
        ("id_card.wav", {"id_card"}),
        ("bank_card.wav", {"bank_card", "id_card"}),
        ("plate.wav", {"plate"}),
    ],
)
def test_real_mandarin_transcripts(model: LoadedWhisper, clip: str, kinds: set[str]) -> None:
    audio = load_16k(speech(f"zh-tts/{clip}"))
    result = transcribe_chunks(model, [audio], TranscribeOptions())
    duration = audio.shape[0] / SAMPLE_RATE
    transcript = Transcript("rec", 0, "a:0", "done", language=result.language,
                            duration_s=duration, segments=result.segments)  # fmt: skip
    found = find_pii(transcript)
    f = _assert_covers(found, _digit_words(result.segments), duration)
    heard = "".join(s.text for s in result.segments)
    assert f.kind in kinds, (heard, f)
    first = result.segments[0].words[0]
    assert f.start > first.end, "the words before the number stay audible"
    redacted = redact_transcript(transcript, found)
    assert not re.search(r"\d", "".join(s.text for s in redacted.segments)), redacted


def test_real_english_transcript_of_espeak_speech(model: LoadedWhisper, tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        unavailable("espeak-ng not installed")
    said = (
        "My phone number is oh seven seven double nine, one two three, four five six. ... "
        "My card number is four five three two, zero one five one, one two eight three, "
        "zero three six six. ... Please write to john dot smith at example dot com."
    )
    raw, wav = tmp_path / "raw.wav", tmp_path / "en.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(raw), said],
                   check=True, timeout=60)  # fmt: skip
    ffmpeg("-i", str(raw), "-ar", str(SAMPLE_RATE), "-ac", "1", str(wav))
    audio = load_16k(wav)
    result = transcribe_chunks(model, [audio], TranscribeOptions(language="en"))
    duration = audio.shape[0] / SAMPLE_RATE
    found = find_pii_in_segments(result.segments, names=["John Smith"], duration_s=duration)
    sentences = [s for s in result.segments if _digit_words([s])]
    assert len(sentences) >= 2, [s.text for s in result.segments]
    phone = _assert_covers(found, _digit_words(sentences[:1]), duration)
    card = _assert_covers(found, _digit_words(sentences[1:2]), duration)
    assert phone.kind in ("landline", "mobile") and card.kind == "bank_card"
    assert phone.end < card.start
    email = [f for f in found if f.kind in ("email", "name") and f.start > card.end]
    assert email, ([s.text for s in result.segments], found)
