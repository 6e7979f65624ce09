"""Transcripts heard per channel, second-pass segments and untranscribed speech

A stream whose channels carry different voices (an interview room's officer and subject)
is transcribed per channel: segments name their channel and the transcript lists the
channels it heard. Speech the voice-activity pass found but no word came out of is kept
as `untranscribed` spans, so a reviewer knows to listen there.

Revision ID: 0007
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "transcripts", sa.Column("channels", sa.JSON(), nullable=False, server_default="[]")
    )
    op.add_column(
        "transcripts", sa.Column("untranscribed", sa.JSON(), nullable=False, server_default="[]")
    )
    op.add_column("transcript_segments", sa.Column("channel", sa.Integer(), nullable=True))
    op.add_column(
        "transcript_segments",
        sa.Column("second_pass", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("transcript_segments", "second_pass")
    op.drop_column("transcript_segments", "channel")
    op.drop_column("transcripts", "untranscribed")
    op.drop_column("transcripts", "channels")
