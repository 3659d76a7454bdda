"""reminders: the memories module's reminders (!remind, !reminders)

Revision ID: 0002_reminders
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_reminders"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminders",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(length=32), nullable=False),
        sa.Column("set_by_name", sa.String(length=200), nullable=False),
        sa.Column("target_user_id", sa.String(length=32), nullable=False),
        sa.Column("target_platform", sa.String(length=20), nullable=False),
        sa.Column("target_platform_user_id", sa.String(length=200), nullable=False),
        sa.Column("target_name", sa.String(length=200), nullable=False),
        sa.Column("origin_platform", sa.String(length=20), nullable=False),
        sa.Column("origin_server_id", sa.String(length=200), nullable=False),
        sa.Column("origin_channel_id", sa.String(length=200), nullable=False),
        sa.Column("origin_channel_name", sa.String(length=200), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_reminders_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["set_by"],
            ["users.id"],
            name=op.f("fk_reminders_set_by_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_user_id"],
            ["users.id"],
            name=op.f("fk_reminders_target_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint(
            "community_id", "number", name=op.f("uq_reminders_community_id_number")
        ),
    )
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reminders_target_user_id"), ["target_user_id"], unique=False
        )
        batch_op.create_index(
            "ix_reminders_community_id_set_by_status",
            ["community_id", "set_by", "status"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("reminders")
