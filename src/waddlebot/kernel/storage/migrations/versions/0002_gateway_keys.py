"""api_key_gateway_copies: API keys sealed for the Kong Admin Broker

Revision ID: 0002_gateway_keys
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_gateway_keys"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_key_gateway_copies",
        sa.Column("api_key_id", sa.String(length=32), nullable=False),
        sa.Column("key_sealed", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_api_key_gateway_copies_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("api_key_id", name=op.f("pk_api_key_gateway_copies")),
    )


def downgrade() -> None:
    op.drop_table("api_key_gateway_copies")
