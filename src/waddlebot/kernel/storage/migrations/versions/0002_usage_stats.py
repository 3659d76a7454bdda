"""usage statistics: daily roll-ups of command_executions, chatters per day

Revision ID: 0002_usage_stats
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_usage_stats"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_command_executions_started_at", "command_executions", ["started_at"], unique=False
    )
    op.create_table(
        "command_usage_daily",
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("trigger", sa.String(length=101), nullable=False),
        sa.Column("module", sa.String(length=100), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_command_usage_daily_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "community_id",
            "day",
            "trigger",
            "module",
            "platform",
            "status",
            name=op.f("pk_command_usage_daily"),
        ),
    )
    op.create_table(
        "community_usage_daily",
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("chatters", sa.Integer(), nullable=False),
        sa.Column("command_users", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_community_usage_daily_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "day", name=op.f("pk_community_usage_daily")),
    )
    op.create_table(
        "chatter_days",
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_chatter_days_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "day", "account", name=op.f("pk_chatter_days")),
    )
    op.create_table(
        "usage_rollups",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("through", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_usage_rollups")),
    )


def downgrade() -> None:
    op.drop_table("usage_rollups")
    op.drop_table("chatter_days")
    op.drop_table("community_usage_daily")
    op.drop_table("command_usage_daily")
    op.drop_index("ix_command_executions_started_at", table_name="command_executions")
