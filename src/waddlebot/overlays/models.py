"""The overlay token table (one live token per community and kind)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.kernel.storage.models import Base, new_id, utcnow


class OverlayToken(Base):
    """The current URL token of one overlay kind of a community.

    Only a SHA-256 of the token is used for look-ups; the token itself is kept encrypted
    (secrets at rest) so the URL can be shown again. Rotation replaces both in place;
    revocation deletes the row.
    """

    __tablename__ = "overlay_tokens"
    __table_args__ = (UniqueConstraint("community_id", "kind"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
