"""The custom commands table (migration ``0002_custom_commands``, a branch off the core).

The router does not read this table per message: each custom command also has a community
row in ``commands`` (module ``custom-commands``) carrying its role, cooldown and ``enabled``,
so the router's own role and cooldown checks apply and ``!command enable|disable`` works on
it like on any command. This table holds what only custom commands have.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.kernel.storage.models import Base, new_id, utcnow


class CustomCommand(Base):
    """One community's ``!name`` answering with a response template."""

    __tablename__ = "custom_commands"
    __table_args__ = (UniqueConstraint("community_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))  # the trigger, lowercase, without "!"
    response: Mapped[str] = mapped_column(String(500))
    uses: Mapped[int] = mapped_column(BigInteger, default=0)  # {count}, incremented atomically
    created_by: Mapped[str | None] = mapped_column(String(200))
    updated_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
