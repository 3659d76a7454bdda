"""Marketplace tables: the module catalogue, its published versions, community installs.

Created by migration ``0002_marketplace`` (a branch off the core revision).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.kernel.storage.models import Base, new_id, utcnow


class CatalogueModule(Base):
    """One module in the catalogue; ``latest_version`` is the newest published."""

    __tablename__ = "marketplace_modules"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    latest_version: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(1000), default="")
    author: Mapped[str] = mapped_column(String(200), default="")
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    runtime: Mapped[str] = mapped_column(String(20))
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    publisher: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ModuleVersion(Base):
    """A published version: its manifest, immutable once published."""

    __tablename__ = "marketplace_versions"
    __table_args__ = (UniqueConstraint("module_name", "version"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    module_name: Mapped[str] = mapped_column(
        ForeignKey("marketplace_modules.name", ondelete="CASCADE"), index=True
    )
    version: Mapped[str] = mapped_column(String(64))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModuleInstall(Base):
    """A module installed in a community: which version, its configuration, on or off."""

    __tablename__ = "module_installs"
    __table_args__ = (UniqueConstraint("community_id", "module_name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    module_name: Mapped[str] = mapped_column(
        ForeignKey("marketplace_modules.name", ondelete="CASCADE"), index=True
    )
    version: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    installed_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
