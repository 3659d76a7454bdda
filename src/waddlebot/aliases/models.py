"""The ``aliases`` table, created by migration ``0002_aliases`` (a branch off the core)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.kernel.storage.models import Base, new_id, utcnow


class Alias(Base):
    """``!name`` in one community runs ``target`` (``$1``…``$9``, ``$@``, ``$user`` expanded)."""

    __tablename__ = "aliases"
    __table_args__ = (UniqueConstraint("community_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))  # lowercased, without "!"
    target: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
