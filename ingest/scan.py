"""Walk recorder dumps: every regular file, in a stable order; names as people read them.

A file name is bytes. Cards written on Windows carry GBK names that are not UTF-8; Python
hands them over with the undecodable bytes as lone surrogates, which no database, JSON
document or terminal accepts. `shown_path` decodes each path component as UTF-8, else as
GB18030 (a superset of GBK and GB2312), else with the bytes escaped; `raw_path_hex` keeps
the exact bytes of any path that is not UTF-8, for the ledger and the receipt.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

NAME_ENCODINGS = ("utf-8", "gb18030")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _decode(raw: bytes) -> str:
    for encoding in NAME_ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "backslashreplace")


def shown_path(path: Path | str) -> str:
    """`path` as text that can be stored and printed (see the module docstring)."""
    text = str(path)
    if _is_utf8(text):
        return text
    return "/".join(_decode(part) for part in os.fsencode(text).split(b"/"))


def raw_path_hex(path: Path | str) -> str | None:
    """The path's exact bytes in hex when they are not UTF-8, else None."""
    text = str(path)
    return None if _is_utf8(text) else os.fsencode(text).hex()


def scan(paths: Iterable[Path], exclude: Iterable[Path] = ()) -> Iterator[Path]:
    """Yield files under `paths` (recursively), sorted, each once.

    Symlinked folders are not followed (a dump never needs them and loops are
    possible); every other entry (links to files, FIFOs, sockets, devices) is yielded so
    that ingest reports what it did not read; `exclude` keeps Custos from ingesting its
    own data folder.
    """
    excluded = {p.resolve() for p in exclude}
    seen: set[Path] = set()
    for root in paths:
        root = root.absolute()
        if root.is_file():
            candidates: Iterable[Path] = [root]
        else:
            candidates = _walk(root, excluded)
        for path in candidates:
            if path not in seen:
                seen.add(path)
                yield path


def _walk(root: Path, excluded: set[Path]) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if (here / d).resolve() not in excluded)
        for name in sorted(filenames):
            path = here / name
            # Links, FIFOs, sockets and devices are listed too, to be reported and not
            # read (ingest/acquire.py): nothing found in a dump goes unmentioned.
            yield path
