"""Media kinds a recording can be streamed as, where their bytes live, and byte ranges."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass

from storage.db.schema import Recording
from storage.derived import derivatives_of
from storage.services import Services

# API kind -> (derivative kind written by ingest/normalise.py, content type)
DERIVED_KINDS: dict[str, tuple[str, str]] = {
    "mezzanine": ("mezzanine", "video/mp4"),
    "proxy": ("proxy", "video/mp4"),
    "audio": ("audio16k", "audio/wav"),
    "poster": ("poster", "image/jpeg"),
    "sprite": ("thumbs", "image/jpeg"),
    "sprite_vtt": ("thumbs_vtt", "text/vtt; charset=utf-8"),  # the sprite's tile index
}
MEDIA_KINDS = (*DERIVED_KINDS, "original")
CHUNK = 1024 * 1024
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


class NoSuchMedia(LookupError):
    """The recording has no output of that kind (yet)."""


class RangeNotSatisfiable(ValueError):
    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for {size} bytes")
        self.size = size


@dataclass(frozen=True)
class MediaObject:
    key: str
    size: int
    content_type: str


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


def media_object(svc: Services, rec: Recording, kind: str) -> MediaObject:
    if kind == "original":
        content_type = mimetypes.guess_type(rec.original_name)[0] or "application/octet-stream"
        return MediaObject(rec.object_key, rec.size, content_type)
    if kind not in DERIVED_KINDS:
        raise NoSuchMedia(f"unknown media kind {kind!r}; choose from {', '.join(MEDIA_KINDS)}")
    derived_kind, content_type = DERIVED_KINDS[kind]
    rows = derivatives_of(svc, rec.id, derived_kind)
    if not rows:
        raise NoSuchMedia(f"recording {rec.id} has no {kind} yet")
    row = rows[-1]
    if kind == "audio" and row.object_key.endswith(".flac"):
        content_type = "audio/flac"
    return MediaObject(row.object_key, row.size, content_type)


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range a Range header asks for; None for the whole object.

    Only one range is served (a multi-range or malformed header gets the whole object, as
    RFC 9110 allows); a range wholly past the end raises RangeNotSatisfiable.
    """
    if header is None:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable(size)
        return ByteRange(max(0, size - n), size)
    start = int(first)
    if start >= size:
        raise RangeNotSatisfiable(size)
    end = size if not last else min(size, int(last) + 1)
    if end <= start:
        return None
    return ByteRange(start, end)


def stream_bytes(svc: Services, key: str, start: int, end: int) -> Iterator[bytes]:
    """Bytes [start, end) of `key`, a chunk at a time, never the whole object at once.

    A bounded open of the local store reads the whole range into memory, so a local
    object is opened from `start` to its end and read only as far as `end`; a remote
    store is asked for exactly the range (one ranged GET, streamed).
    """
    bound = None if svc.store.local_file(key) is not None else end
    with svc.store.open(key, start, bound) as handle:
        remaining = end - start
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
