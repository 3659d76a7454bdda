"""scheduler jobs

Revision ID: 0002_scheduler
Revises: 0001
Create Date: 2026-11-30 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_scheduler"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduled_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("module", sa.String(length=64), nullable=False),
        sa.Column("handler", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grace", sa.Float(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("origin_platform", sa.String(length=20), nullable=False),
        sa.Column("origin_server_id", sa.String(length=200), nullable=False),
        sa.Column("origin_channel_id", sa.String(length=200), nullable=False),
        sa.Column("origin_channel_name", sa.String(length=200), nullable=True),
        sa.Column("origin_entity_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_scheduled_jobs_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_jobs")),
        sa.UniqueConstraint(
            "module",
            "community_id",
            "dedupe_key",
            name=op.f("uq_scheduled_jobs_module_community_id_dedupe_key"),
        ),
    )
    with op.batch_alter_table("scheduled_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scheduled_jobs_community_id"), ["community_id"], unique=False
        )
        batch_op.create_index("ix_scheduled_jobs_status_due_at", ["status", "due_at"], unique=False)


def downgrade() -> None:
    op.drop_table("scheduled_jobs")
