"""module data: durable ctx.storage of every module

Revision ID: 0002_module_data
Revises: 0001
Create Date: 2026-11-30 01:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_module_data"
down_revision = "0001"
branch_labels = ("module_data",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "module_data",
        sa.Column("module", sa.String(length=64), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_module_data_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "module", "community_id", "scope", "key", name=op.f("pk_module_data")
        ),
    )
    with op.batch_alter_table("module_data", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_module_data_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("module_data")
