"""Twitch tables: connected channels, their EventSub subscriptions, the bot's OAuth token.

Tokens are stored sealed (Fernet through ``Settings.secret_box``), never in plain text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.kernel.storage.models import Base, new_id, utcnow

LIVE_STATUSES = frozenset({"enabled", "webhook_callback_verification_pending"})


class TwitchChannel(Base):
    """A Twitch channel the bot is connected to (by broadcaster id)."""

    __tablename__ = "twitch_channels"
    broadcaster_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    bot_is_moderator: Mapped[bool] = mapped_column(Boolean, default=False)
    connected_at: Mapped[datetime] = mapped_column(default=utcnow)


class TwitchSubscription(Base):
    """One EventSub subscription a connected channel needs, and what Twitch says about it."""

    __tablename__ = "twitch_subscriptions"
    __table_args__ = (UniqueConstraint("broadcaster_id", "type"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    broadcaster_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("twitch_channels.broadcaster_id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(10))
    condition: Mapped[dict[str, Any]] = mapped_column()
    twitch_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    status: Mapped[str] = mapped_column(String(64), default="missing")
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def healthy(self) -> bool:
        return self.status in LIVE_STATUSES


class TwitchToken(Base):
    """The bot account's user token (authorisation-code flow), sealed at rest."""

    __tablename__ = "twitch_tokens"
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    login: Mapped[str] = mapped_column(String(64))
    access_token_sealed: Mapped[str] = mapped_column(Text)
    refresh_token_sealed: Mapped[str] = mapped_column(Text)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
