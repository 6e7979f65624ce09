"""One way to name a recording, for every command and every route.

A person may name a recording by its id, by a prefix of its id (the receipt shows the
first 8 characters), by its SHA-256 or a prefix of it, or by its original file name
(or the path it was ingested from). A name that fits several recordings is refused
with the candidates, never resolved to one of them by chance.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.db.schema import Recording, Sighting
from storage.errors import StorageError

MIN_PREFIX = 6  # characters of an id or digest prefix
_MAX_CANDIDATES = 20
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Candidate:
    """A recording a reference could mean, as a person tells them apart."""

    id: str
    sha256: str
    name: str
    case_no: str | None

    def describe(self) -> str:
        case = f", case {self.case_no}" if self.case_no else ""
        return f"{self.id[:8]} (sha256 {self.sha256[:12]}, {self.name}{case})"


class RecordingLookupError(StorageError, LookupError):
    """A reference names no recording, or more than one."""


class NoSuchRecording(RecordingLookupError):
    """No recording matches the reference."""


class AmbiguousRecording(RecordingLookupError):
    """The reference matches several recordings; `candidates` lists them."""

    def __init__(self, ref: str, what: str, candidates: list[Candidate]) -> None:
        self.ref = ref
        self.candidates = candidates
        shown = "; ".join(c.describe() for c in candidates[:_MAX_CANDIDATES])
        more = len(candidates) - _MAX_CANDIDATES
        tail = f"; and {more} more" if more > 0 else ""
        super().__init__(
            f"{ref!r} {what} {len(candidates)} recordings: {shown}{tail}; "
            "give more characters of the id or SHA-256"
        )


def _candidates(rows: list[Recording]) -> list[Candidate]:
    unique = {r.id: r for r in rows}
    return [
        Candidate(r.id, r.sha256, r.original_name, r.case_no)
        for r in sorted(unique.values(), key=lambda r: (r.original_name, r.id))
    ]


def _one(ref: str, what: str, rows: list[Recording]) -> Recording | None:
    unique = {r.id: r for r in rows}
    if len(unique) == 1:
        return next(iter(unique.values()))
    if len(unique) > 1:
        raise AmbiguousRecording(ref, what, _candidates(rows))
    return None


def find_recording(session: Session, ref: str) -> Recording:
    """The one recording `ref` names: id, id prefix, SHA-256 (prefix) or file name.

    Raises `NoSuchRecording` or `AmbiguousRecording` (with the candidates).
    """
    ref = ref.strip()
    if not ref:
        raise NoSuchRecording("no recording named '' (give its id, SHA-256 or file name)")
    exact = session.get(Recording, ref)
    if exact is not None:
        return exact
    lowered = ref.lower()
    by_digest = session.scalar(select(Recording).where(Recording.sha256 == lowered))
    if by_digest is not None:
        return by_digest
    if len(lowered) >= MIN_PREFIX and set(lowered) <= _HEX | {"-"}:
        rows = list(
            session.scalars(
                select(Recording).where(
                    or_(Recording.id.startswith(lowered), Recording.sha256.startswith(lowered))
                )
            )
        )
        found = _one(ref, "is the start of the id or SHA-256 of", rows)
        if found is not None:
            return found
    rows = list(session.scalars(select(Recording).where(Recording.original_name == ref)))
    found = _one(ref, "is the file name of", rows)
    if found is not None:
        return found
    # The path a file was ingested from (or its end: `DCIM/0001.MP4`).
    rows = list(
        session.scalars(
            select(Recording)
            .join(Sighting, Sighting.recording_id == Recording.id)
            .where(
                or_(
                    Sighting.source_path == ref,
                    Sighting.source_path.endswith("/" + ref, autoescape=True),
                )
            )
        )
    )
    found = _one(ref, "is the path of", rows)
    if found is not None:
        return found
    hint = (
        f" (an id or SHA-256 prefix needs {MIN_PREFIX}+ characters)"
        if len(ref) < MIN_PREFIX
        else ""
    )
    raise NoSuchRecording(
        f"no recording {ref!r}{hint}; give its id, SHA-256 (or a prefix) or file name "
        "as shown on the ingest receipt"
    )
