"""The ``timers`` table, created by migration ``0002_timers`` (a branch off the core)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.kernel.storage.models import Base, new_id, utcnow


class Timer(Base):
    """``content`` said (or, for ``!command``, run as ``creator``) every ``interval`` seconds in
    the channel ``entity_id``, when at least ``min_lines`` chat lines came in since.

    ``generation`` grows each time the timer is switched on, so jobs of an earlier run stop;
    ``last_slot`` is the last firing slot of this generation that ran (claimed by an atomic
    update, so a slot never fires twice whichever process runs it).
    """

    __tablename__ = "timers"
    __table_args__ = (UniqueConstraint("community_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    entity_id: Mapped[str] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    interval_seconds: Mapped[float] = mapped_column(Float)
    min_lines: Mapped[int] = mapped_column(Integer, default=0)
    online_only: Mapped[bool] = mapped_column(Boolean, default=False)
    content: Mapped[str] = mapped_column(String(500))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    last_slot: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # the platform account that created it, as the platform reported it (a UserRef)
    creator: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
