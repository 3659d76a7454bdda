"""inventory: item catalogue, holdings per user, history of every change

Revision ID: 0002_inventory
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_inventory"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inventory_items",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("stock_left", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_inventory_items_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_items")),
        sa.UniqueConstraint(
            "community_id", "name_key", name=op.f("uq_inventory_items_community_id_name_key")
        ),
    )
    op.create_table(
        "inventory_holdings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_inventory_holdings_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["inventory_items.id"],
            name=op.f("fk_inventory_holdings_item_id_inventory_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_inventory_holdings_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_holdings")),
        sa.UniqueConstraint(
            "item_id", "user_id", name=op.f("uq_inventory_holdings_item_id_user_id")
        ),
    )
    op.create_index(
        "ix_inventory_holdings_community_id_user_id",
        "inventory_holdings",
        ["community_id", "user_id"],
    )
    op.create_table(
        "inventory_history",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=True),
        sa.Column("item_name", sa.String(length=100), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("from_user", sa.String(length=32), nullable=True),
        sa.Column("to_user", sa.String(length=32), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_inventory_history_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_history")),
        sa.UniqueConstraint(
            "community_id", "ref", name=op.f("uq_inventory_history_community_id_ref")
        ),
    )
    op.create_index(
        "ix_inventory_history_community_id_created_at",
        "inventory_history",
        ["community_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_table("inventory_history")
    op.drop_index("ix_inventory_holdings_community_id_user_id", table_name="inventory_holdings")
    op.drop_table("inventory_holdings")
    op.drop_table("inventory_items")
