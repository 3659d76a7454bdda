"""The ``module_data`` table: what modules keep in ``ctx.storage`` (migration ``0002_module_data``).

One row per (module, community, scope, key); ``scope`` is ``""`` for the community's own keys
or a user id for :meth:`ModuleStorage.for_user`. ``value`` is the JSON text as the module
stored it (integers as their digits, so counters can be incremented in SQL).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.kernel.storage.models import Base, utcnow


class ModuleDatum(Base):
    """One stored value; an ``expires_at`` in the past means it is gone (purged later)."""

    __tablename__ = "module_data"
    module: Mapped[str] = mapped_column(String(64), primary_key=True)
    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
