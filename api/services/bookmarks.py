"""Bookmarks: a reviewer's own notes at moments of a recording ("the seizure list is read
out here"). Each is ledgered, so the review itself leaves a trace; each user sees their own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.db.schema import Base, UTCDateTime
from storage.services import Services

MAX_NOTE = 2000


class BookmarkRow(Base):
    __tablename__ = "bookmarks"
    __table_args__ = (Index("ix_bookmarks_recording_user", "recording_id", "user_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"))
    user_name: Mapped[str] = mapped_column(String(128))
    at_s: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class Bookmark:
    id: int
    recording_id: str
    user: str
    at_s: float
    note: str
    created_at: datetime

    @classmethod
    def of(cls, row: BookmarkRow) -> Bookmark:
        return cls(row.id, row.recording_id, row.user_name, row.at_s, row.note, row.created_at)


def bookmarks(svc: Services, recording_id: str, user: str) -> list[Bookmark]:
    """The user's bookmarks of the recording, in media-time order."""
    with svc.db.session() as session:
        rows = session.scalars(
            select(BookmarkRow)
            .where(BookmarkRow.recording_id == recording_id, BookmarkRow.user_name == user)
            .order_by(BookmarkRow.at_s, BookmarkRow.id)
        )
        return [Bookmark.of(r) for r in rows]


def add_bookmark(svc: Services, recording_id: str, user: str, at_s: float, note: str) -> Bookmark:
    def run(session: Session) -> Bookmark:
        row = BookmarkRow(recording_id=recording_id, user_name=user, at_s=round(at_s, 3),
                          note=note.strip()[:MAX_NOTE], created_at=datetime.now(UTC))  # fmt: skip
        session.add(row)
        session.flush()
        svc.ledger.append(session, actor=user, action="bookmark.added", subject=recording_id,
                          details={"bookmark": row.id, "at_s": row.at_s})  # fmt: skip
        return Bookmark.of(row)

    return svc.db.run(run)


def remove_bookmark(svc: Services, recording_id: str, user: str, bookmark_id: int) -> bool:
    """Remove one of the user's bookmarks; False when they have no such bookmark."""

    def run(session: Session) -> bool:
        row = session.get(BookmarkRow, bookmark_id)
        if row is None or row.recording_id != recording_id or row.user_name != user:
            return False
        session.delete(row)
        svc.ledger.append(session, actor=user, action="bookmark.removed", subject=recording_id,
                          details={"bookmark": bookmark_id})  # fmt: skip
        return True

    return svc.db.run(run)
