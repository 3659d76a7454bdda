"""What a host may offer modules that keep their own tables (the router does; remote hosts do
not): sessions on the installation's database.

A built-in module declares its tables with SQLAlchemy on :data:`Base` in its own folder and
creates them in a migration on its own Alembic branch off ``0001``
(``kernel/storage/migrations/versions/0002_<module>.py``); it reads and writes them through
``ctx.database`` in chat and :func:`waddlebot.sdk.web.database` in its REST routes, so chat and
REST share one manager.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from waddlebot.kernel.storage.merges import on_user_merge
from waddlebot.kernel.storage.models import Base, new_id, utcnow
from waddlebot.kernel.storage.sequences import next_number

__all__ = ["Base", "ModuleDatabase", "new_id", "next_number", "on_user_merge", "utcnow"]


class ModuleDatabase(Protocol):
    """The installation's database: ``sqlite`` embedded, ``postgresql`` when split."""

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``: for the few queries that differ (``SKIP LOCKED``)."""
        ...

    def session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A read-write transaction: commits when the block ends, rolls back on an error."""
        ...

    def read_session(self, *, fresh: bool = False) -> AbstractAsyncContextManager[AsyncSession]:
        """A session for reads only: a replica when one is in use, unless ``fresh`` (the
        primary, for reading a write another request just made) or this task wrote lately."""
        ...
