"""The music module's tables, created by migration ``0002_music`` (a branch off the core).

One queue per community (``music_queue``): the entry with ``status = playing`` is what plays
now, the ``queued`` ones follow in ``position`` order. Every change takes the community's
``music_settings`` row ``FOR UPDATE`` first, so concurrent requests from several router
processes serialise per community (SQLite serialises writers anyway).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.sdk.database import Base, new_id, utcnow

QUEUED = "queued"
PLAYING = "playing"


class MusicSettings(Base):
    """A community's song-request settings (a row exists once anything was requested or
    set); also the per-community lock every queue change takes."""

    __tablename__ = "music_settings"
    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(20), default="youtube")
    requests_open: Mapped[bool] = mapped_column(Boolean, default=True)
    max_per_user: Mapped[int] = mapped_column(Integer, default=3)
    max_length_seconds: Mapped[int] = mapped_column(Integer, default=600)
    banned_tracks: Mapped[list[Any]] = mapped_column(JSON, default=list)
    banned_artists: Mapped[list[Any]] = mapped_column(JSON, default=list)
    explicit_filter: Mapped[bool] = mapped_column(Boolean, default=False)
    subscriber_only: Mapped[bool] = mapped_column(Boolean, default=False)
    voteskip_votes: Mapped[int] = mapped_column(Integer, default=5)
    voteskip_percent: Mapped[int] = mapped_column(Integer, default=0)
    volume: Mapped[int] = mapped_column(Integer, default=50)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MusicQueueEntry(Base):
    """One requested track: queued, or playing now (at most one per community)."""

    __tablename__ = "music_queue"
    __table_args__ = (Index("ix_music_queue_order", "community_id", "status", "position"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default=QUEUED)
    provider: Mapped[str] = mapped_column(String(20))
    track_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    artist: Mapped[str] = mapped_column(String(300))
    album: Mapped[str] = mapped_column(String(300), default="")
    art_url: Mapped[str] = mapped_column(String(1000), default="")
    url: Mapped[str] = mapped_column(String(1000))
    duration_ms: Mapped[int] = mapped_column(Integer)
    explicit: Mapped[bool] = mapped_column(Boolean, default=False)
    requested_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    requester_name: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MusicVote(Base):
    """A ``!voteskip`` vote against the entry playing now (one per person)."""

    __tablename__ = "music_votes"
    __table_args__ = (UniqueConstraint("entry_id", "voter"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    entry_id: Mapped[str] = mapped_column(ForeignKey("music_queue.id", ondelete="CASCADE"))
    voter: Mapped[str] = mapped_column(String(64))  # WaddleBot user id
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
