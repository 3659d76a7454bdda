"""The inventory tables, created by migration ``0002_inventory`` (a branch off the core).

``stock`` is how many units of an item may exist in holdings at once (None: unlimited) and
``stock_left`` what is still free; every change locks the item's row first, so changes of one
item are serialised and ``stock_left`` never goes below zero.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.sdk.database import Base, new_id, utcnow


class InventoryItem(Base):
    """One entry of a community's item catalogue."""

    __tablename__ = "inventory_items"
    __table_args__ = (UniqueConstraint("community_id", "name_key"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))  # as typed when created
    name_key: Mapped[str] = mapped_column(String(100))  # lowercased: names are unique here
    description: Mapped[str] = mapped_column(String(500), default="")
    stock: Mapped[int | None] = mapped_column(Integer, default=None)
    stock_left: Mapped[int | None] = mapped_column(Integer, default=None)
    created_by: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InventoryHolding(Base):
    """How many units of an item one person (WaddleBot user) holds; rows at 0 are deleted."""

    __tablename__ = "inventory_holdings"
    __table_args__ = (
        UniqueConstraint("item_id", "user_id"),
        Index("ix_inventory_holdings_community_id_user_id", "community_id", "user_id"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(ForeignKey("inventory_items.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InventoryChange(Base):
    """One line of history: who did what to which item, from whom to whom, how many, why.

    Item and people are plain ids (no foreign keys) so history outlives removed items;
    ``ref`` makes a platform grant (a channel-points redemption) count once.
    """

    __tablename__ = "inventory_history"
    __table_args__ = (
        UniqueConstraint("community_id", "ref"),
        Index("ix_inventory_history_community_id_created_at", "community_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(20))
    item_id: Mapped[str | None] = mapped_column(String(32), default=None)
    item_name: Mapped[str] = mapped_column(String(100))
    actor: Mapped[str | None] = mapped_column(String(100), default=None)
    from_user: Mapped[str | None] = mapped_column(String(32), default=None)
    to_user: Mapped[str | None] = mapped_column(String(32), default=None)
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(String(200), default="")
    ref: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
