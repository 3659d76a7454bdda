"""command_executions: community and entity may be unknown (rows of abandoned events)

Revision ID: 0002_execution_log
Revises: 0001
Create Date: 2026-11-30 01:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_execution_log"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("command_executions", schema=None) as batch_op:
        batch_op.alter_column("community_id", existing_type=sa.String(length=32), nullable=True)
        batch_op.alter_column("entity_id", existing_type=sa.String(length=32), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM command_executions WHERE community_id IS NULL OR entity_id IS NULL")
    with op.batch_alter_table("command_executions", schema=None) as batch_op:
        batch_op.alter_column("entity_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column("community_id", existing_type=sa.String(length=32), nullable=False)
