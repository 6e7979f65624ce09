"""Recorder file names carry a device id and a start time; parse the common patterns.

Patterns are regular expressions with named groups `device`, `date` (YYYYMMDD),
`time` (HHMMSS) and optionally `tz` (+HHMM). Agencies add their own in a YAML file
(settings.filename_patterns_file: a list of regexes), tried before the built-ins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import yaml

BUILTIN_PATTERNS: tuple[str, ...] = (
    # Body-worn cameras, GA/T 947 style: <device 7+ chars>_<YYYYMMDDHHMMSS>_<n>
    r"^(?P<device>[A-Za-z0-9]{5,})[_-](?P<date>\d{8})(?P<time>\d{6})(?:[_-].*)?$",
    # Axon style: "<title> <YYYY-MM-DD> <HHMM> <device>"
    r"^.*?(?P<date>\d{4}-\d{2}-\d{2})[ _T](?P<time>\d{4,6})[ _](?P<device>[A-Z]\d{3,}[A-Z0-9]*)$",
    # CCTV exports: ch01_20240312_081500 / CH03-20240312-081500
    r"^(?P<device>ch\d{1,3})[_-](?P<date>\d{8})[_-](?P<time>\d{6}).*$",
    # Phones and generic: VID_20240312_081500 / 20240312_081500
    r"^(?:VID|IMG|REC|AUD|video|rec)?[_-]?(?P<date>\d{8})[_-](?P<time>\d{6}).*$",
)


@dataclass(frozen=True)
class NameInfo:
    device_id: str | None
    start: datetime | None
    pattern: str | None


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
    date = date.replace("-", "")
    time = time.ljust(6, "0")
    try:
        naive = datetime.strptime(date + time, "%Y%m%d%H%M%S")
    except ValueError:
        return None
    if not 1990 <= naive.year <= 2100:
        return None
    if tz:
        sign = -1 if tz.startswith("-") else 1
        digits = tz.lstrip("+-")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        return naive.replace(tzinfo=timezone(sign * offset)).astimezone(UTC)
    # Recorders write local wall-clock time without a zone; keep it naive so the
    # caller can apply the agency's zone rather than guessing one here.
    return naive


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
        return NameInfo(groups.get("device"), start, pattern)
    return NameInfo(None, None, None)
