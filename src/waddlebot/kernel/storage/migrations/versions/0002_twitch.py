"""twitch channels, eventsub subscriptions, bot token

Revision ID: 0002_twitch
Revises: 0001
Create Date: 2026-11-25 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_twitch"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "twitch_channels",
        sa.Column("broadcaster_id", sa.String(length=64), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("bot_is_moderator", sa.Boolean(), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("broadcaster_id", name=op.f("pk_twitch_channels")),
        sa.UniqueConstraint("login", name=op.f("uq_twitch_channels_login")),
    )
    op.create_table(
        "twitch_subscriptions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("broadcaster_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=10), nullable=False),
        sa.Column("condition", sa.JSON(), nullable=False),
        sa.Column("twitch_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcaster_id"],
            ["twitch_channels.broadcaster_id"],
            name=op.f("fk_twitch_subscriptions_broadcaster_id_twitch_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_twitch_subscriptions")),
        sa.UniqueConstraint(
            "broadcaster_id", "type", name=op.f("uq_twitch_subscriptions_broadcaster_id_type")
        ),
    )
    op.create_index(
        op.f("ix_twitch_subscriptions_twitch_id"), "twitch_subscriptions", ["twitch_id"]
    )
    op.create_table(
        "twitch_tokens",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("access_token_sealed", sa.Text(), nullable=False),
        sa.Column("refresh_token_sealed", sa.Text(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_twitch_tokens")),
    )


def downgrade() -> None:
    op.drop_table("twitch_tokens")
    op.drop_index(op.f("ix_twitch_subscriptions_twitch_id"), table_name="twitch_subscriptions")
    op.drop_table("twitch_subscriptions")
    op.drop_table("twitch_channels")
