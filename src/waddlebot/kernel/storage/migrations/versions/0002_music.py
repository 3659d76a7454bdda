"""music: song-request queue, per-community settings and skip votes

Revision ID: 0002_music
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_music"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "music_settings",
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("requests_open", sa.Boolean(), nullable=False),
        sa.Column("max_per_user", sa.Integer(), nullable=False),
        sa.Column("max_length_seconds", sa.Integer(), nullable=False),
        sa.Column("banned_tracks", sa.JSON(), nullable=False),
        sa.Column("banned_artists", sa.JSON(), nullable=False),
        sa.Column("explicit_filter", sa.Boolean(), nullable=False),
        sa.Column("subscriber_only", sa.Boolean(), nullable=False),
        sa.Column("voteskip_votes", sa.Integer(), nullable=False),
        sa.Column("voteskip_percent", sa.Integer(), nullable=False),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_music_settings_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_music_settings")),
    )
    op.create_table(
        "music_queue",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("track_id", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("artist", sa.String(length=300), nullable=False),
        sa.Column("album", sa.String(length=300), nullable=False),
        sa.Column("art_url", sa.String(length=1000), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("explicit", sa.Boolean(), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=True),
        sa.Column("requester_name", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_music_queue_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_music_queue_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_music_queue")),
    )
    with op.batch_alter_table("music_queue", schema=None) as batch_op:
        batch_op.create_index(
            "ix_music_queue_order", ["community_id", "status", "position"], unique=False
        )
    op.create_table(
        "music_votes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("entry_id", sa.String(length=32), nullable=False),
        sa.Column("voter", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["music_queue.id"],
            name=op.f("fk_music_votes_entry_id_music_queue"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_music_votes")),
        sa.UniqueConstraint("entry_id", "voter", name=op.f("uq_music_votes_entry_id_voter")),
    )


def downgrade() -> None:
    op.drop_table("music_votes")
    with op.batch_alter_table("music_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_music_queue_order")
    op.drop_table("music_queue")
    op.drop_table("music_settings")
