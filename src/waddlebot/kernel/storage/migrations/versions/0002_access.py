"""accounts, per-community role grants, labels, command permissions, account home server

Revision ID: 0002_access
Revises: 0001
Create Date: 2026-11-25 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_access"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("is_superuser", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column("kind", sa.String(length=20), nullable=False, server_default="person")
        )
    with op.batch_alter_table("platform_identities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("server_id", sa.String(length=200), nullable=True))
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.add_column(sa.Column("permission", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("subcommand_permissions", sa.JSON(), nullable=False, server_default="{}")
        )
    op.create_table(
        "community_role_grants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_community_role_grants_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_role_grants")),
        sa.UniqueConstraint(
            "community_id", "role", name=op.f("uq_community_role_grants_community_id_role")
        ),
    )
    op.create_table(
        "labels",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("colour", sa.String(length=7), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("system", sa.Boolean(), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_labels_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labels")),
        sa.UniqueConstraint("community_id", "name", name=op.f("uq_labels_community_id_name")),
    )
    op.create_table(
        "label_assignments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("label_id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("target_type", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.String(length=200), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["label_id"],
            ["labels.id"],
            name=op.f("fk_label_assignments_label_id_labels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_label_assignments_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_assignments")),
        sa.UniqueConstraint(
            "label_id",
            "target_type",
            "target_id",
            name=op.f("uq_label_assignments_label_id_target_type_target_id"),
        ),
    )
    with op.batch_alter_table("label_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_label_assignments_label_id"), ["label_id"], unique=False
        )
        batch_op.create_index(
            "ix_label_assignments_target",
            ["community_id", "target_type", "target_id"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("label_assignments")
    op.drop_table("labels")
    op.drop_table("community_role_grants")
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_column("subcommand_permissions")
        batch_op.drop_column("permission")
    with op.batch_alter_table("platform_identities", schema=None) as batch_op:
        batch_op.drop_column("server_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("kind")
        batch_op.drop_column("is_active")
        batch_op.drop_column("is_superuser")
        batch_op.drop_column("password_hash")
