"""Export packages handed out, and their withdrawal

One row per disclosure package (`disclosure/exports.py`): who got it, why, where its zip
is kept write-once, its digests, and when and why it was withdrawn.

Revision ID: 0013
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        sa.Column("case_no", sa.String(length=128), nullable=True),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("exported_by", sa.String(length=128), nullable=False),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("object_key", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("tagmanifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=True),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=128), nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_exports_recording_id"), "exports", ["recording_id"])
    op.create_index(op.f("ix_exports_case_no"), "exports", ["case_no"])
    op.create_index(op.f("ix_exports_exported_at"), "exports", ["exported_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_exports_exported_at"), table_name="exports")
    op.drop_index(op.f("ix_exports_case_no"), table_name="exports")
    op.drop_index(op.f("ix_exports_recording_id"), table_name="exports")
    op.drop_table("exports")
