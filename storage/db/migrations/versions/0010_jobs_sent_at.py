"""Jobs remember when their message was sent

A job is created in the transaction that records its recording and its message is sent
after the commit; `sent_at` stays empty when the sender died in between, so the sweep at
start-up (`custos worker`, `custos jobs`, `custos ingest`) sends it.

Revision ID: 0010_jobs_sent_at
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_jobs_sent_at"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "sent_at")
