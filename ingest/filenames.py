"""Recorder file names carry a device id and a start time; parse the common forms.

Built in, tried in this order:
- Axon style, "<title> <YYYY-MM-DD> <HHMM> <device>" (a regular expression);
- every name that holds a date and time: `YYYYMMDDHHMMSS`, `YYYYMMDD_HHMMSS`,
  `YYYYMMDD-HHMMSS`, `YYYYMMDDTHHMMSS`, `YYYY-MM-DD HH.MM.SS` and the like, with an
  optional `+HHMM` offset. The first valid one is the start time. The device is what comes
  before it (`BWC001_20260301_090001`, GA/T 947 style `DSJ-01_20261103141800_0001`, CCTV
  `ch01_...`, `IPC_ch02_20261103-141800`), or, when nothing does, the first word after it
  (`20261103141800_DSJ01`). Media prefixes of phones and generic recorders (`VID_`, `IMG_`,
  `REC`, `PXL_` ...) and sequence numbers are not devices. A six-digit or longer number
  between device and time (`DSJ0001_012345_20261103141800_0001`) is the officer's number.

Agencies add their own regular expressions in a YAML file
(settings.filename_patterns_file: a list), tried before the built-ins, with named groups
`device`, `date` (YYYYMMDD), `time` (HHMMSS) and optionally `tz` (+HHMM) and `officer`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

BUILTIN_PATTERNS: tuple[str, ...] = (
    # Axon style: "<title> <YYYY-MM-DD> <HHMM> <device>"
    r"^.*?(?P<date>\d{4}-\d{2}-\d{2})[ _T](?P<time>\d{4,6})[ _](?P<device>[A-Z]\d{3,}[A-Z0-9]*)$",
)

# A date and a time, not inside a longer run of digits. Compact dates take an optional
# separator before the time; dashed dates also take dotted or dashed times. Phones append
# milliseconds to the seconds (PXL_20240312_081500123).
_STAMP = re.compile(
    r"(?<!\d)(?:"
    r"(?P<cdate>(?:19|20)\d{6})(?:[_\-T ]|\s+at\s+)?(?P<ctime>\d{6})(?:\d{3})?"
    r"|(?P<ddate>(?:19|20)\d{2}-\d{2}-\d{2})(?:[_\-T .]|\s+at\s+)"
    r"(?P<dtime>\d{2}[.:\-]?\d{2}[.:\-]?\d{2})"
    r")(?P<tz>\+\d{2}:?\d{2})?(?!\d)"
)
_SEPARATORS = "_-. "
# Words that phones and generic recorders put in front of a time: not a device.
_MEDIA_PREFIXES = frozenset(
    "vid img rec aud mov pxl mvi snd dji video audio record recording voice clip capture".split()
)
# Words recorders put after the time that are flags, not devices (GA/T 947 "_IMP").
_MARKERS = frozenset({"imp", "important", "mark", "evt", "event", "lock", "locked", "sos"})
_DEVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")  # NVRs name cameras by IP
_OFFICER_SUFFIX = re.compile(r"^(?P<device>.+?)_(?P<officer>\d{6,})$")


@dataclass(frozen=True)
class NameInfo:
    device_id: str | None
    start: datetime | None  # naive: the recorder's wall clock; aware: the name had an offset
    pattern: str | None
    officer: str | None = None


def load_patterns(path: Path | None) -> tuple[str, ...]:
    extra: list[str] = []
    if path is not None:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        if not isinstance(loaded, list) or not all(isinstance(p, str) for p in loaded):
            raise ValueError(f"{path}: expected a YAML list of regular expressions")
        for pattern in loaded:
            re.compile(pattern)  # fail at start-up, not mid-ingest
        extra = loaded
    return (*extra, *BUILTIN_PATTERNS)


def _parse_time(date: str, time: str, tz: str | None) -> datetime | None:
    date = re.sub(r"\D", "", date)
    time = re.sub(r"\D", "", time).ljust(6, "0")
    try:
        naive = datetime.strptime(date + time, "%Y%m%d%H%M%S")
    except ValueError:
        return None
    if not 1990 <= naive.year <= 2100:
        return None
    if tz:
        sign = -1 if tz.startswith("-") else 1
        digits = tz.lstrip("+-").replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        if hours > 14 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        return naive.replace(tzinfo=timezone(sign * offset))
    # Recorders write local wall-clock time without a zone; keep it naive so the
    # caller can apply the agency's zone rather than guessing one here.
    return naive


def _is_device(word: str) -> bool:
    if len(word) < 2 or len(word) > 64 or not _DEVICE.match(word):
        return False
    if word.lower() in _MEDIA_PREFIXES or word.lower() in _MARKERS:
        return False
    # A bare number is a sequence number, unless it is long enough to be a serial.
    return not word.isdigit() or len(word) >= 5


def _device_before(prefix: str) -> tuple[str | None, str | None]:
    """The device (and officer number) written before the time, if any."""
    word = prefix.strip(_SEPARATORS)
    if not word or any(c.isspace() for c in word):
        return None, None  # nothing, or a title ("Screen Recording 2024-03-12 ...")
    head, _, rest = word.partition("_")
    if rest and head.lower() in _MEDIA_PREFIXES:
        word = rest  # VID_ch01_... : the prefix goes, the rest may be a device
    officer = None
    if match := _OFFICER_SUFFIX.match(word):
        word, officer = match["device"], match["officer"]
    return (word, officer) if _is_device(word) else (None, None)


def _device_after(suffix: str) -> str | None:
    word = re.split(r"[_ .\[(]", suffix.lstrip(_SEPARATORS), maxsplit=1)[0]
    return word if _is_device(word) and not any(c.isdigit() for c in word[:1]) else None


def _parse_builtin(stem: str) -> NameInfo | None:
    for match in _STAMP.finditer(stem):
        date, time = match["cdate"] or match["ddate"], match["ctime"] or match["dtime"]
        start = _parse_time(date, time, match["tz"])
        if start is None:
            continue
        device, officer = _device_before(stem[: match.start()])
        if device is None and not stem[: match.start()].strip(_SEPARATORS):
            device = _device_after(stem[match.end() :])
        return NameInfo(device, start, "builtin:date-time", officer)
    return None


def parse_name(name: str, patterns: tuple[str, ...] = BUILTIN_PATTERNS) -> NameInfo:
    stem = Path(name).stem
    for pattern in patterns:
        match = re.match(pattern, stem)
        if not match:
            continue
        groups = match.groupdict()
        start = None
        if groups.get("date") and groups.get("time"):
            start = _parse_time(groups["date"], groups["time"], groups.get("tz"))
            if start is None:
                continue
        return NameInfo(groups.get("device"), start, pattern, groups.get("officer"))
    return _parse_builtin(stem) or NameInfo(None, None, None)
