"""calendar: community events (proposed, approved, reminded) and iCalendar feed tokens

Revision ID: 0002_calendar
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_calendar"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("proposed_by", sa.String(length=32), nullable=True),
        sa.Column("proposer_name", sa.String(length=200), nullable=False),
        sa.Column("proposer_platform", sa.String(length=20), nullable=True),
        sa.Column("proposer_account", sa.String(length=200), nullable=True),
        sa.Column("origin_platform", sa.String(length=20), nullable=True),
        sa.Column("origin_server_id", sa.String(length=200), nullable=True),
        sa.Column("origin_channel_id", sa.String(length=200), nullable=True),
        sa.Column("origin_channel_name", sa.String(length=200), nullable=True),
        sa.Column("origin_entity_id", sa.String(length=32), nullable=True),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("reminder_job_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_calendar_events_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by"],
            ["users.id"],
            name=op.f("fk_calendar_events_proposed_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["users.id"],
            name=op.f("fk_calendar_events_decided_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_events")),
        sa.UniqueConstraint(
            "community_id", "number", name=op.f("uq_calendar_events_community_id_number")
        ),
    )
    op.create_index(
        "ix_calendar_events_status_start",
        "calendar_events",
        ["community_id", "status", "starts_at"],
        unique=False,
    )
    op.create_table(
        "calendar_feed_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_calendar_feed_tokens_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feed_tokens")),
        sa.UniqueConstraint("community_id", name=op.f("uq_calendar_feed_tokens_community_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feed_tokens_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("calendar_feed_tokens")
    op.drop_index("ix_calendar_events_status_start", table_name="calendar_events")
    op.drop_table("calendar_events")
