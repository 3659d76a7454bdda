"""The Spotify connection of a community, created by migration ``0002_spotify``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.sdk.database import Base, new_id, utcnow


class SpotifyConnection(Base):
    """The broadcaster's Spotify account a community plays requests on (one per community).

    Both tokens are sealed with the installation's keys (``*_sealed``: key rotation
    re-encrypts them); ``expires_at`` is when the access token stops working, so it is
    refreshed a little before. ``scopes`` is what the user granted, space-separated.
    """

    __tablename__ = "spotify_connections"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), unique=True
    )
    spotify_user_id: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    access_token_sealed: Mapped[str] = mapped_column(Text)
    refresh_token_sealed: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    scopes: Mapped[str] = mapped_column(String(500), default="")
    connected_by: Mapped[str] = mapped_column(String(200), default="")
    connected_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
