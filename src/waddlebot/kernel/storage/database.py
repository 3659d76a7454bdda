"""Engines and sessions: one primary for writes, optional read replicas for read-only queries."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from waddlebot.kernel.settings import normalise_database_url

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x5741_4444_4C45  # "WADDLE"

# Alembic logs "Context impl …" and "Will assume …" at INFO on every migrate(), i.e. on every
# admin command and start: keep it to warnings and errors.
logging.getLogger("alembic").setLevel(logging.WARNING)


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url`` with settings that suit each database."""
    parsed = make_url(normalise_database_url(url))
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _enable_sqlite_pragmas)
        return engine
    return create_async_engine(parsed, pool_size=10, max_overflow=20, pool_pre_ping=True)


def alembic_config() -> Config:
    """Alembic configuration pointing at the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


class Database:
    """The primary engine plus read replicas, and the session factories bound to them."""

    def __init__(self, url: str, replica_urls: list[str] | None = None) -> None:
        self.url = normalise_database_url(url)
        self.engine = create_engine(self.url)
        self.replicas = [create_engine(replica) for replica in replica_urls or []]
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = [
            async_sessionmaker(replica, expire_on_commit=False) for replica in self.replicas
        ] or [self._sessions]
        self._next_reader: Iterator[async_sessionmaker[AsyncSession]] = itertools.cycle(
            self._read_sessions
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read-write session on the primary; commits on success, rolls back on error."""
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for read-only queries: the next replica in turn, or the primary."""
        async with next(self._next_reader)() as session:
            yield session

    async def migrate(self, revision: str = "heads") -> None:
        """Bring the schema to ``revision`` (Alembic upgrade on the primary).

        ``heads``: features add their tables on their own branch off the core revision, so
        every branch head is applied.
        """
        async with self.engine.begin() as connection:
            if self.dialect == "postgresql":
                # Several services may start at once: one migrates, the others wait, then no-op.
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            await connection.run_sync(_upgrade, revision)

    async def ping(self, engine: AsyncEngine | None = None) -> bool:
        """True when the primary (or ``engine``, a replica) answers a trivial query."""
        try:
            async with (engine or self.engine).connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def close(self) -> None:
        for engine in (self.engine, *self.replicas):
            await engine.dispose()
