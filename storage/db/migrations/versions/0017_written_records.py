"""Written records (documents) attached to case steps, with their extracted text

Revision ID: 0017
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "written_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("text_source", sa.String(length=32), nullable=False),
        sa.Column("text_note", sa.Text(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("text_sha256", sa.String(length=64), nullable=True),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attached_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["step_id"], ["case_steps.id"]),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("step_id", "recording_id", "kind"),
    )
    op.create_index("ix_written_records_step_id", "written_records", ["step_id"])
    op.create_index("ix_written_records_recording_id", "written_records", ["recording_id"])


def downgrade() -> None:
    op.drop_index("ix_written_records_recording_id", table_name="written_records")
    op.drop_index("ix_written_records_step_id", table_name="written_records")
    op.drop_table("written_records")
