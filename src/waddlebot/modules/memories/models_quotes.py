"""The quote and saved-URL tables, created by migration ``0002_quotes`` (a branch off the core).

Quote numbers are per community, handed out by the kernel's ``next_number`` (kind ``quote``)
in the transaction that inserts the quote, so a removed number is never reused.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.sdk.database import Base, new_id, utcnow

QUOTE_TEXT_MAX = 1000
NAME_MAX = 100
GAME_MAX = 200
URL_NAME_MAX = 50
URL_MAX = 2000
URL_DESCRIPTION_MAX = 300


class Quote(Base):
    """Quote ``#number`` of a community: what was said, who added it, when, during which game."""

    __tablename__ = "quotes"
    __table_args__ = (UniqueConstraint("community_id", "number"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(QUOTE_TEXT_MAX))
    added_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    added_by_name: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    game: Mapped[str] = mapped_column(String(GAME_MAX), default="")
    # when it was said: the add time in chat, the export's date on import
    quoted_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SavedUrl(Base):
    """A named link of a community (``!url NAME``)."""

    __tablename__ = "saved_urls"
    __table_args__ = (UniqueConstraint("community_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(URL_NAME_MAX))  # lowercased
    url: Mapped[str] = mapped_column(String(URL_MAX))
    description: Mapped[str] = mapped_column(String(URL_DESCRIPTION_MAX), default="")
    added_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    added_by_name: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
