"""Per-community numbers people type (``!quote 12``, ``!event approve 3``, ``!reminders
cancel 7``): one counter row per community and kind, advanced by an atomic upsert inside the
caller's transaction.

A number is never handed out twice, even after its record is deleted, and two concurrent
transactions cannot get the same one (PostgreSQL locks the counter row until commit; SQLite
writes one transaction at a time). A transaction that rolls back gives its number back.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.kernel.storage.models import Base


class CommunitySequence(Base):
    """The last number given out for ``kind`` in a community (migration ``0002_sequences``)."""

    __tablename__ = "community_sequences"
    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


async def next_number(
    session: AsyncSession, community_id: str, kind: str, *, count: int = 1
) -> int:
    """The next number of ``kind`` in the community, starting at 1 (within ``session``'s
    transaction: it counts only if that commits). ``count`` reserves a block (an import):
    the numbers ``last - count + 1 … last``, and ``last`` is returned."""
    if count < 1:
        raise ValueError("count must be at least 1")
    table: Table = CommunitySequence.__table__  # type: ignore[assignment] # declared as a Table
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(table)
        .values(community_id=community_id, kind=kind, value=count)
        .on_conflict_do_update(
            index_elements=[table.c.community_id, table.c.kind],
            set_={"value": table.c.value + count},
        )
        .returning(table.c.value)
    )
    return int((await session.execute(statement)).scalar_one())
