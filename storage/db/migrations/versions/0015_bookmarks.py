"""Bookmarks: a reviewer's notes at a moment of a recording

Declared in `api/services/bookmarks.py`.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bookmarks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        sa.Column("user_name", sa.String(length=128), nullable=False),
        sa.Column("at_s", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_bookmarks_recording_user", "bookmarks", ["recording_id", "user_name"])


def downgrade() -> None:
    op.drop_index("ix_bookmarks_recording_user", table_name="bookmarks")
    op.drop_table("bookmarks")
