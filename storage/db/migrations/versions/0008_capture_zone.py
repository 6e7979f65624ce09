"""The zone each recording's capture time was read in, and why that zone

Recorders write local wall-clock time without an offset. Which zone Custos assumed
(CUSTOS_LOCAL_TIMEZONE, the machine's zone, or UTC when neither was known), or that the
time carried its own offset, is kept on the recording so that a wrong assumption can be
found and corrected later.

Revision ID: 0008
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("recordings", sa.Column("capture_zone", sa.String(length=64), nullable=True))
    op.add_column(
        "recordings", sa.Column("capture_zone_basis", sa.String(length=16), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("capture_zone_basis")
        batch.drop_column("capture_zone")
