"""ai: per-community AI chat settings, MCP servers and daily token usage

Revision ID: 0002_ai
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_ai"
down_revision = "0001"
branch_labels = None
depends_on = None


def _community_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["community_id"],
        ["communities.id"],
        name=op.f(f"fk_{table}_community_id_communities"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "ai_settings",
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=True),
        sa.Column("base_url", sa.String(length=500), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("api_key_sealed", sa.Text(), nullable=True),
        sa.Column("system_prompt", sa.Text(), nullable=True),
        sa.Column("max_chars", sa.Integer(), nullable=True),
        sa.Column("temperature", sa.Float(), nullable=True),
        sa.Column("cooldown", sa.Float(), nullable=True),
        sa.Column("community_budget", sa.Integer(), nullable=True),
        sa.Column("user_budget", sa.Integer(), nullable=True),
        sa.Column("memory_turns", sa.Integer(), nullable=True),
        sa.Column("memory_ttl", sa.Integer(), nullable=True),
        sa.Column("block_list", sa.JSON(), nullable=True),
        sa.Column("mention", sa.Boolean(), nullable=False),
        sa.Column("bot_name", sa.String(length=50), nullable=True),
        sa.Column("overlay", sa.String(length=20), nullable=True),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _community_fk("ai_settings"),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_ai_settings")),
    )
    op.create_table(
        "ai_mcp_servers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("transport", sa.String(length=20), nullable=False),
        sa.Column("command", sa.String(length=500), nullable=True),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("allowed_tools", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _community_fk("ai_mcp_servers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_mcp_servers")),
        sa.UniqueConstraint(
            "community_id", "name", name=op.f("uq_ai_mcp_servers_community_id_name")
        ),
    )
    op.create_table(
        "ai_usage",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        _community_fk("ai_usage"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_ai_usage_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_usage")),
        sa.UniqueConstraint(
            "community_id", "day", "user_id", name=op.f("uq_ai_usage_community_id_day_user_id")
        ),
    )
    op.create_index(op.f("ix_ai_usage_user_id"), "ai_usage", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ai_usage_user_id"), table_name="ai_usage")
    op.drop_table("ai_usage")
    op.drop_table("ai_mcp_servers")
    op.drop_table("ai_settings")
