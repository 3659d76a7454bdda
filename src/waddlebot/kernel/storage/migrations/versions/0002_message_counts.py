"""message_counts: chat messages per community and UTC hour (the overview's messages series)

Revision ID: 0002_message_counts
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_message_counts"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_counts",
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("community_id", "hour"),
    )


def downgrade() -> None:
    op.drop_table("message_counts")
