"""Fuzz the recorder file-name parser (ingest/filenames.py) and the path decoding of
scan (ingest/scan.py): any name, however hostile, parses without an exception, quickly,
into a start time inside the recognised years and a device that is a word of the name."""

from __future__ import annotations

import os
import sys

import _common  # noqa: F401 - puts the repository on sys.path
import atheris

with atheris.instrument_imports():
    from ingest.filenames import BUILTIN_PATTERNS, parse_name
    from ingest.scan import raw_path_hex, shown_path


def check(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    name = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 400))
    info = parse_name(name, BUILTIN_PATTERNS)
    if info.start is not None:
        assert 1990 <= info.start.year <= 2100, (name, info)
    if info.device_id is not None:
        assert info.device_id in name, (name, info)
        assert len(info.device_id) <= 64 or info.pattern != "builtin:date-time", (name, info)
    # Raw bytes as a card reader hands them over (GBK, broken UTF-8): always printable
    # text for the database, and the exact bytes kept whenever the text differs.
    raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 300)).replace(b"\0", b"")
    path = os.fsdecode(raw)
    shown = shown_path(path)
    shown.encode("utf-8")  # storable
    hexed = raw_path_hex(path)
    if hexed is not None:
        assert bytes.fromhex(hexed) == raw
    else:
        assert shown == path


def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
