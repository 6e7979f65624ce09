"""Transcripts and their segments, with a text index that needs no word spaces

Both index `search_text`, the case-folded, punctuation-free form of each segment's text.
SQLite: an external-content FTS5 table with the trigram tokenizer, kept in step by
triggers. PostgreSQL: pg_trgm and a GIN trigram index serving LIKE.

Revision ID: 0004
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transcripts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        sa.Column("stream_index", sa.Integer(), nullable=True),
        sa.Column("stream_label", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("language_probability", sa.Float(), nullable=True),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("speech_s", sa.Float(), nullable=False),
        sa.Column("audio_sha256", sa.String(length=64), nullable=True),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("model_sha256", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=16), nullable=False),
        sa.Column("compute_type", sa.String(length=16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("params_hash", sa.String(length=64), nullable=False),
        sa.Column("decode", sa.JSON(), nullable=False),
        sa.Column("segment_count", sa.Integer(), nullable=False),
        sa.Column("doubtful_count", sa.Integer(), nullable=False),
        sa.Column("object_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recording_id", "stream_index", "params_hash"),
    )
    op.create_index("ix_transcripts_recording_id", "transcripts", ["recording_id"])
    op.create_index("ix_transcripts_current", "transcripts", ["current"])
    op.create_index("ix_transcripts_params_hash", "transcripts", ["params_hash"])
    op.create_table(
        "transcript_segments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("transcript_id", sa.String(length=36), nullable=False),
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        sa.Column("stream_index", sa.Integer(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("language_probability", sa.Float(), nullable=True),
        sa.Column("avg_logprob", sa.Float(), nullable=False),
        sa.Column("no_speech_prob", sa.Float(), nullable=False),
        sa.Column("compression_ratio", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("speech_ratio", sa.Float(), nullable=False),
        sa.Column("words", sa.JSON(), nullable=False),
        sa.Column("doubtful", sa.Boolean(), nullable=False),
        sa.Column("doubt_reasons", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["transcript_id"], ["transcripts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_transcript_segments_transcript_id", "transcript_segments", ["transcript_id"]
    )
    op.create_index("ix_transcript_segments_recording_id", "transcript_segments", ["recording_id"])

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE transcript_segments_fts USING fts5(search_text, "
            "content='transcript_segments', content_rowid='id', tokenize='trigram')"
        )
        op.execute(
            "CREATE TRIGGER transcript_segments_fts_ai AFTER INSERT ON transcript_segments "
            "BEGIN INSERT INTO transcript_segments_fts(rowid, search_text) "
            "VALUES (new.id, new.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER transcript_segments_fts_ad AFTER DELETE ON transcript_segments "
            "BEGIN INSERT INTO transcript_segments_fts(transcript_segments_fts, rowid, "
            "search_text) VALUES ('delete', old.id, old.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER transcript_segments_fts_au AFTER UPDATE OF search_text "
            "ON transcript_segments BEGIN "
            "INSERT INTO transcript_segments_fts(transcript_segments_fts, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); "
            "INSERT INTO transcript_segments_fts(rowid, search_text) "
            "VALUES (new.id, new.search_text); END"
        )
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_transcript_segments_text_trgm ON transcript_segments "
            "USING gin (search_text gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS transcript_segments_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS transcript_segments_fts")
    op.drop_table("transcript_segments")
    op.drop_table("transcripts")
