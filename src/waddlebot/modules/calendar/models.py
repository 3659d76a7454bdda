"""The calendar's tables, created by migration ``0002_calendar`` (a branch off the core)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.sdk.database import Base, new_id, utcnow

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
CANCELLED = "cancelled"
STATUSES = (PENDING, APPROVED, REJECTED, CANCELLED)


class CalendarEvent(Base):
    """One proposed event of a community, numbered per community (``#3``) so chat can name it.

    Times are stored in UTC with the zone they were typed in (``time_zone``), so the event is
    shown in that zone's wall-clock time whatever the clocks do later. The proposer's platform
    account and the channel it was proposed in are kept so outcomes and reminders go back there.
    """

    __tablename__ = "calendar_events"
    __table_args__ = (
        UniqueConstraint("community_id", "number"),
        Index("ix_calendar_events_status_start", "community_id", "status", "starts_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    time_zone: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    proposed_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    proposer_name: Mapped[str] = mapped_column(String(200))
    proposer_platform: Mapped[str | None] = mapped_column(String(20), default=None)
    proposer_account: Mapped[str | None] = mapped_column(String(200), default=None)
    # where it was proposed: reminders and outcome notices go there (NULL: nowhere to post)
    origin_platform: Mapped[str | None] = mapped_column(String(20), default=None)
    origin_server_id: Mapped[str | None] = mapped_column(String(200), default=None)
    origin_channel_id: Mapped[str | None] = mapped_column(String(200), default=None)
    origin_channel_name: Mapped[str | None] = mapped_column(String(200), default=None)
    origin_entity_id: Mapped[str | None] = mapped_column(String(32), default=None)
    decided_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    reason: Mapped[str | None] = mapped_column(String(500), default=None)
    reminder_job_id: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CalendarFeedToken(Base):
    """The secret in a community's iCalendar feed URL (one live token per community).

    Looked up by SHA-256 only; the token itself is kept encrypted under the installation's
    secret box so the URL can be shown again. Rotation replaces both; revocation deletes the row.
    """

    __tablename__ = "calendar_feed_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), unique=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
