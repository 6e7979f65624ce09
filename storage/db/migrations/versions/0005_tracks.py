"""Detection runs and privacy-region tracks (keyframes per track)

Revision ID: 0005
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "detect_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        sa.Column("params_hash", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("model", sa.JSON(), nullable=False),
        sa.Column("frame_count", sa.Integer(), nullable=False),
        sa.Column("corrupt_frames", sa.Integer(), nullable=False),
        sa.Column("detect_frames", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=False),
        sa.Column("rotation", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("tracks_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recording_id", "params_hash"),
    )
    op.create_index(
        op.f("ix_detect_runs_recording_id"), "detect_runs", ["recording_id"], unique=False
    )
    op.create_table(
        "detect_tracks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        sa.Column("track_no", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("first_frame", sa.Integer(), nullable=False),
        sa.Column("last_frame", sa.Integer(), nullable=False),
        sa.Column("first_seen_frame", sa.Integer(), nullable=False),
        sa.Column("last_seen_frame", sa.Integer(), nullable=False),
        sa.Column("first_time", sa.Float(), nullable=False),
        sa.Column("last_time", sa.Float(), nullable=False),
        sa.Column("score_max", sa.Float(), nullable=False),
        sa.Column("score_mean", sa.Float(), nullable=False),
        sa.Column("detected_frames", sa.Integer(), nullable=False),
        sa.Column("interpolated_frames", sa.Integer(), nullable=False),
        sa.Column("extended_frames", sa.Integer(), nullable=False),
        sa.Column("keyframes", sa.JSON(), nullable=False),
        sa.Column("thumbnail_key", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["detect_runs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "track_no"),
    )
    op.create_index(op.f("ix_detect_tracks_run_id"), "detect_tracks", ["run_id"], unique=False)
    op.create_index(
        op.f("ix_detect_tracks_recording_id"), "detect_tracks", ["recording_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_detect_tracks_recording_id"), table_name="detect_tracks")
    op.drop_index(op.f("ix_detect_tracks_run_id"), table_name="detect_tracks")
    op.drop_table("detect_tracks")
    op.drop_index(op.f("ix_detect_runs_recording_id"), table_name="detect_runs")
    op.drop_table("detect_runs")
