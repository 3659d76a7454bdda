"""Slack tables: one row per workspace that installed the app through OAuth."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.kernel.storage.models import Base, utcnow


class SlackInstallation(Base):
    """A workspace's bot token (encrypted with the secret box) and the bot's user id."""

    __tablename__ = "slack_installations"
    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_name: Mapped[str] = mapped_column(String(200), default="")
    bot_user_id: Mapped[str] = mapped_column(String(32), default="")
    app_id: Mapped[str] = mapped_column(String(32), default="")
    scope: Mapped[str] = mapped_column(Text, default="")
    token_sealed: Mapped[str] = mapped_column(Text)
    installed_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
