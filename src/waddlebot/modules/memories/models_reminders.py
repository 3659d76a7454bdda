"""The ``reminders`` table, created by migration ``0002_reminders`` (a branch off the core).

One row per reminder, from ``!remind`` to its delivery or cancellation. ``number`` is the
reminder's number in its community (``!reminders cancel 7``): a sequence that never reuses a
number, so a number someone read stays theirs while they type the cancel.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.sdk.database import Base, new_id, utcnow

PENDING = "pending"  # waiting for its job
DELIVERED = "delivered"  # said (or whispered) once; never again
CANCELLED = "cancelled"  # by its setter, a moderator or over REST

MAX_TEXT = 300  # characters of the reminder itself; the delivered line stays one message


class Reminder(Base):
    """``set_by`` asked to remind ``target`` of ``text`` at ``due_at`` (UTC) in a channel."""

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("community_id", "number"),
        Index("ix_reminders_community_id_set_by_status", "community_id", "set_by", "status"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    set_by: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    set_by_name: Mapped[str] = mapped_column(String(200))
    target_user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    target_platform: Mapped[str] = mapped_column(String(20))
    target_platform_user_id: Mapped[str] = mapped_column(String(200))
    target_name: Mapped[str] = mapped_column(String(200))
    origin_platform: Mapped[str] = mapped_column(String(20))
    origin_server_id: Mapped[str] = mapped_column(String(200))
    origin_channel_id: Mapped[str] = mapped_column(String(200))
    origin_channel_name: Mapped[str | None] = mapped_column(String(200))
    due_at: Mapped[datetime]
    time_zone: Mapped[str] = mapped_column(String(64))  # the zone a wall-clock time was read in
    text: Mapped[str] = mapped_column(String(MAX_TEXT))
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    job_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
