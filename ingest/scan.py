"""Walk recorder dumps: every regular file, in a stable order."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path


def scan(paths: Iterable[Path], exclude: Iterable[Path] = ()) -> Iterator[Path]:
    """Yield files under `paths` (recursively), sorted, each once.

    Symlinked folders are not followed (a dump never needs them and loops are
    possible); `exclude` keeps Custos from ingesting its own data folder.
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
            if path.is_file():
                yield path
