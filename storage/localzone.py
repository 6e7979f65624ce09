"""The zone of recorder clocks that write local time without an offset.

`CUSTOS_LOCAL_TIMEZONE` names it. When unset, the machine's own zone is used: the `TZ`
environment variable, else `/etc/localtime` (a link into the zone database, or a copy of
a zone file named by `/etc/timezone`). When the machine's zone cannot be read either,
UTC is assumed and the note says so. Every recording records which zone was assumed
and why, and the custody receipt shows it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

ZoneBasis = Literal["setting", "machine", "fallback"]
LOCALTIME = Path("/etc/localtime")
TIMEZONE_FILE = Path("/etc/timezone")
# A POSIX TZ without daylight saving rules, e.g. "CST-8" (UTC+8) or "UTC0".
_POSIX_FIXED = re.compile(
    r"^(?P<abbr>[A-Za-z]{3,})(?P<sign>[+-]?)(?P<h>\d{1,2})(?::(?P<m>\d{2}))?$"
)


@dataclass(frozen=True)
class LocalZone:
    """A zone, its name as recorded on recordings, and how it was chosen."""

    tz: tzinfo
    name: str
    basis: ZoneBasis
    note: str | None = None


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone `name`; ValueError when the zone database has no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name like Asia/Shanghai)"
        ) from exc


def _zone_key(path: Path) -> str | None:
    """`Asia/Shanghai` from `/usr/share/zoneinfo/Asia/Shanghai` (the name after zoneinfo/)."""
    parts = path.parts
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in ("zoneinfo", "zoneinfo-posix"):
            key = "/".join(parts[i + 1 :])
            return key or None
    return None


def _from_tz_variable(value: str) -> tuple[tzinfo, str] | None:
    value = value.removeprefix(":")
    if not value:
        return ZoneInfo("UTC"), "UTC"  # POSIX: an empty TZ is UTC
    if value.startswith("/"):
        key = _zone_key(Path(value))
        if key is not None:
            try:
                return ZoneInfo(key), key
            except (ZoneInfoNotFoundError, ValueError):
                pass
        try:
            with open(value, "rb") as handle:
                return ZoneInfo.from_file(handle, key=value), value
        except (OSError, ValueError):
            return None
    try:
        return ZoneInfo(value), value
    except (ZoneInfoNotFoundError, ValueError):
        pass
    match = _POSIX_FIXED.match(value)
    if match is None:
        return None
    # POSIX offsets count west of Greenwich: "CST-8" is eight hours ahead of UTC.
    minutes = int(match["h"]) * 60 + int(match["m"] or 0)
    if minutes > 14 * 60:
        return None
    sign = 1 if match["sign"] == "-" else -1
    offset = timedelta(minutes=sign * minutes)
    return timezone(offset), _offset_name(offset)


def offset_name(moment: datetime) -> str:
    """The zone of an aware time as a name: "UTC" or "+08:00"."""
    return _offset_name(moment.utcoffset() or timedelta(0))


def _offset_name(offset: timedelta) -> str:
    if not offset:
        return "UTC"
    sign = "+" if offset > timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _from_localtime(localtime: Path, timezone_file: Path) -> tuple[tzinfo, str] | None:
    try:
        target = localtime.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    key = _zone_key(target) if localtime.is_symlink() else None
    if key is None:
        try:
            key = timezone_file.read_text(encoding="utf-8").strip() or None
        except OSError:
            key = None
    if key is not None:
        try:
            return ZoneInfo(key), key
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        with target.open("rb") as handle:
            return ZoneInfo.from_file(handle, key=str(localtime)), str(localtime)
    except (OSError, ValueError):
        return None


def machine_zone(
    environ: Mapping[str, str] | None = None,
    localtime: Path = LOCALTIME,
    timezone_file: Path = TIMEZONE_FILE,
) -> tuple[tzinfo, str] | None:
    """This machine's zone and its name, or None when it cannot be read."""
    env = os.environ if environ is None else environ
    if "TZ" in env:
        found = _from_tz_variable(env["TZ"])
        if found is not None:
            return found
    return _from_localtime(localtime, timezone_file)


def local_zone(
    setting: str | None,
    environ: Mapping[str, str] | None = None,
    localtime: Path = LOCALTIME,
    timezone_file: Path = TIMEZONE_FILE,
) -> LocalZone:
    """The zone to read recorder wall-clock times in, and why that one."""
    if setting:
        return LocalZone(zone_named(setting), setting, "setting")
    found = machine_zone(environ, localtime, timezone_file)
    if found is not None:
        return LocalZone(found[0], found[1], "machine")
    note = (
        "the machine's time zone could not be read (TZ, /etc/localtime); recorder times "
        "without an offset are taken as UTC: set CUSTOS_LOCAL_TIMEZONE"
    )
    log.warning(note)
    return LocalZone(ZoneInfo("UTC"), "UTC", "fallback", note)


def describe(zone: str | None, basis: str | None) -> str | None:
    """How a recording's zone reads on a receipt: "Asia/Shanghai (assumed: machine zone)"."""
    if zone is None:
        return None
    why = {
        "setting": "assumed: CUSTOS_LOCAL_TIMEZONE",
        "machine": "assumed: machine zone",
        "fallback": "assumed: machine zone unknown",
        "recorded": "recorded with the time",
    }.get(basis or "", basis or "unknown")
    return f"{zone} ({why})"
