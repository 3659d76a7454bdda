"""marketplace: module catalogue, published versions, community installs

Revision ID: 0002_marketplace
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_marketplace"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "marketplace_modules",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("latest_version", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("runtime", sa.String(length=20), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("publisher", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_marketplace_modules")),
    )
    op.create_table(
        "marketplace_versions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("module_name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["module_name"],
            ["marketplace_modules.name"],
            name=op.f("fk_marketplace_versions_module_name_marketplace_modules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_versions")),
        sa.UniqueConstraint(
            "module_name", "version", name=op.f("uq_marketplace_versions_module_name_version")
        ),
    )
    op.create_index(
        op.f("ix_marketplace_versions_module_name"), "marketplace_versions", ["module_name"]
    )
    op.create_table(
        "module_installs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("module_name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_module_installs_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["module_name"],
            ["marketplace_modules.name"],
            name=op.f("fk_module_installs_module_name_marketplace_modules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_module_installs")),
        sa.UniqueConstraint(
            "community_id", "module_name", name=op.f("uq_module_installs_community_id_module_name")
        ),
    )
    op.create_index(op.f("ix_module_installs_community_id"), "module_installs", ["community_id"])
    op.create_index(op.f("ix_module_installs_module_name"), "module_installs", ["module_name"])


def downgrade() -> None:
    op.drop_table("module_installs")
    op.drop_table("marketplace_versions")
    op.drop_table("marketplace_modules")
