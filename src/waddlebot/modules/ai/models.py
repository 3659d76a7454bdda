"""The AI module's tables, created by migration ``0002_ai`` (a branch off the core).

* ``ai_settings``: one row per community that changed anything (absent: installation
  defaults). The API key is sealed (``api_key_sealed``) so ``waddlebot admin rotate-keys``
  re-encrypts it with the platform tokens.
* ``ai_mcp_servers``: MCP servers whose allow-listed tools the model may call.
* ``ai_usage``: tokens spent per community, user and UTC day: the daily budgets read it,
  and it survives restarts and is shared by every router process.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.sdk.database import Base, new_id, utcnow


class AiSettings(Base):
    """A community's overrides; a NULL column means "the installation default"."""

    __tablename__ = "ai_settings"
    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str | None] = mapped_column(String(20))
    base_url: Mapped[str | None] = mapped_column(String(500))
    model: Mapped[str | None] = mapped_column(String(200))
    api_key_sealed: Mapped[str | None] = mapped_column(Text)
    system_prompt: Mapped[str | None] = mapped_column(Text)
    max_chars: Mapped[int | None] = mapped_column(Integer)
    temperature: Mapped[float | None] = mapped_column(Float)
    cooldown: Mapped[float | None] = mapped_column(Float)
    community_budget: Mapped[int | None] = mapped_column(Integer)
    user_budget: Mapped[int | None] = mapped_column(Integer)
    memory_turns: Mapped[int | None] = mapped_column(Integer)
    memory_ttl: Mapped[int | None] = mapped_column(Integer)
    block_list: Mapped[list[str] | None] = mapped_column(JSON)
    mention: Mapped[bool] = mapped_column(Boolean, default=False)
    bot_name: Mapped[str | None] = mapped_column(String(50))
    overlay: Mapped[str | None] = mapped_column(String(20))
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AiMcpServer(Base):
    """One MCP server: ``command`` (stdio, with ``args``) or ``url`` (streamable HTTP)."""

    __tablename__ = "ai_mcp_servers"
    __table_args__ = (UniqueConstraint("community_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    transport: Mapped[str] = mapped_column(String(20))  # "stdio" or "http"
    command: Mapped[str | None] = mapped_column(String(500))
    args: Mapped[list[str]] = mapped_column(JSON, default=list)
    url: Mapped[str | None] = mapped_column(String(500))
    allowed_tools: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AiUsage(Base):
    """Tokens ``user_id`` spent in a community on one UTC ``day``."""

    __tablename__ = "ai_usage"
    __table_args__ = (UniqueConstraint("community_id", "day", "user_id"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    answers: Mapped[int] = mapped_column(Integer, default=0)
