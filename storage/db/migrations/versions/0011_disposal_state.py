"""Disposals are recorded before anything is deleted and finished idempotently

A disposal is committed as `pending` with the keys still to delete; `finish_disposals`
deletes them (copies first, the original last) and marks it `done`. Existing rows were
completed by the old code, so they are `done`.

Revision ID: 0011
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "disposals", sa.Column("state", sa.String(length=16), nullable=False, server_default="done")
    )
    op.add_column(
        "disposals", sa.Column("pending_keys", sa.JSON(), nullable=False, server_default="[]")
    )
    op.add_column("disposals", sa.Column("last_error", sa.Text(), nullable=True))
    op.create_index("ix_disposals_state", "disposals", ["state"])


def downgrade() -> None:
    op.drop_index("ix_disposals_state", table_name="disposals")
    op.drop_column("disposals", "last_error")
    op.drop_column("disposals", "pending_keys")
    op.drop_column("disposals", "state")
