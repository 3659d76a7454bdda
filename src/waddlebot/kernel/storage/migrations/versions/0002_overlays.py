"""overlay tokens

Revision ID: 0002_overlays
Revises: 0001
Create Date: 2026-11-25 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_overlays"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "overlay_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_overlay_tokens_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overlay_tokens")),
        sa.UniqueConstraint(
            "community_id", "kind", name=op.f("uq_overlay_tokens_community_id_kind")
        ),
        sa.UniqueConstraint("token_hash", name=op.f("uq_overlay_tokens_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("overlay_tokens")
