"""Time helpers: everything in this package is UTC and timezone-aware.

SQLite hands DateTime(timezone=True) columns back naive (it stores no zone), so
every value read from the database goes through `as_utc` before arithmetic.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cases.errors import CasesError

_OFFSET = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$|^(\d+(?:\.\d+)?)s?$")


def as_utc(value: datetime) -> datetime:
    """Aware UTC; a naive value is taken to be UTC already (how it was stored)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def parse_time(text: str | datetime | date, *, zone: str | None = None) -> datetime:
    """An ISO-8601 time or date as aware UTC.

    A value without an offset is refused unless `zone` names the zone it was written
    in: guessing would silently shift every gap by the zone's offset.
    """
    if isinstance(text, datetime):
        value = text
    elif isinstance(text, date):
        value = datetime(text.year, text.month, text.day)
        if zone is None:
            return value.replace(tzinfo=UTC)
    else:
        raw = text.strip()
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise CasesError(f"not an ISO-8601 time: {text!r}") from exc
        if len(raw) == 10 and value.tzinfo is None and zone is None:
            # A bare date means midnight UTC (period bounds such as --from 2024-01-01).
            return value.replace(tzinfo=UTC)
    if value.tzinfo is None:
        if zone is None:
            raise CasesError(
                f"time {text!s} has no UTC offset; write it with Z or +08:00, "
                "or give the file a timezone"
            )
        try:
            value = value.replace(tzinfo=ZoneInfo(zone))
        except ZoneInfoNotFoundError as exc:
            raise CasesError(f"unknown timezone {zone!r}") from exc
    return value.astimezone(UTC)


def parse_offset(text: str) -> timedelta | None:
    """`90`, `90s`, `1:30` or `0:01:30` as a timedelta; None if `text` is not an offset."""
    match = _OFFSET.match(text.strip())
    if match is None:
        return None
    hours, minutes, seconds, plain = match.groups()
    if plain is not None:
        return timedelta(seconds=float(plain))
    return timedelta(hours=int(hours or 0), minutes=int(minutes), seconds=float(seconds))


def round_second(value: datetime) -> datetime:
    """Nearest whole second (half up), for reports that speak in seconds."""
    value = as_utc(value)
    floor = value.replace(microsecond=0)
    return floor + timedelta(seconds=1) if value.microsecond >= 500_000 else floor


def hms(value: datetime, *, same_day_as: datetime | None = None) -> str:
    """`14:02:10`, or the full date and time when it falls on another day than the reference."""
    value = round_second(value)
    if same_day_as is not None and as_utc(same_day_as).date() == value.date():
        return value.strftime("%H:%M:%S")
    return value.strftime("%Y-%m-%d %H:%M:%S")


def iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat().replace("+00:00", "Z")
