"""Engines and sessions: one primary for writes, optional read replicas for read-only queries."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Executable, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from waddlebot.kernel.lean_imports import extras_hidden
from waddlebot.kernel.settings import normalise_database_url
from waddlebot.kernel.storage import replicas as replica_checks
from waddlebot.kernel.storage import revisions
from waddlebot.kernel.storage.batch_writer import SqliteBatchWriter, sqlite_file_url
from waddlebot.kernel.storage.replicas import CHECK_EVERY, DEFAULT_MAX_LAG, Replica, WalSamples
from waddlebot.kernel.storage.stamps import ChangeStamp
from waddlebot.kernel.supervision import TaskHealth, report_healthy, supervise

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x5741_4444_4C45  # "WADDLE"

# Alembic logs "Context impl …" and "Will assume …" at INFO on every migrate(), i.e. on every
# admin command and start: keep it to warnings and errors.
logging.getLogger("alembic").setLevel(logging.WARNING)


class WriteMark:
    """Set when a request (whatever tasks it spans) wrote through :meth:`Database.session`:
    ``kernel/web.py``'s ``ReadYourWrites`` then pins that client's next reads to the primary."""

    def __init__(self) -> None:
        self.wrote = False


# The request being handled: its WriteMark, and until when (``time.time()``) its client
# reads the primary because it wrote a moment ago (a form's POST, then the page it redirects to).
_request_mark: ContextVar[WriteMark | None] = ContextVar("waddlebot_request_mark", default=None)
_primary_until: ContextVar[float] = ContextVar("waddlebot_primary_until", default=0.0)


@contextlib.contextmanager
def following_request(mark: WriteMark, primary_until: float) -> Iterator[None]:
    """While handling one request: note its writes in ``mark``, and read the primary while
    ``time.time() < primary_until``."""
    marked, until = _request_mark.set(mark), _primary_until.set(primary_until)
    try:
        yield
    finally:
        _request_mark.reset(marked)
        _primary_until.reset(until)


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class _RollbackOnClose(sqlite3.Connection):
    """A SQLite connection that ends its transaction before it closes.

    SQLAlchemy closes a connection whose task was cancelled while it waited on the database
    (an in-process module's timeout, shutdown) without rolling back, and Python's ``close()``
    does not roll back either: while any cursor of it is still referenced (the cancelled
    task's traceback keeps one) the closed connection lives on in SQLite and keeps its write
    lock, so every other write waits out the busy timeout and fails with "database is locked"
    until the garbage collector happens to free that cursor.
    """

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # already closed, or nothing to roll back
            if self.in_transaction:
                self.rollback()
        super().close()


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url`` with settings that suit each database."""
    parsed = make_url(normalise_database_url(url))
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            parsed, connect_args={"timeout": 30, "factory": _RollbackOnClose}
        )
        event.listen(engine.sync_engine, "connect", _enable_sqlite_pragmas)
        return engine
    return create_async_engine(parsed, pool_size=10, max_overflow=20, pool_pre_ping=True)


def alembic_config() -> Config:
    """Alembic configuration pointing at the migrations shipped inside the package."""
    with extras_hidden():  # Alembic is loaded only when there is work for it
        from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    with extras_hidden():
        from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


class Database:
    """The primary engine plus read replicas, and the session factories bound to them.

    Reads go to a replica only while the background check (:meth:`watch_replicas`, started
    by :meth:`start`) finds it reachable and at most ``replica_max_lag`` seconds behind; a
    read that must see a write goes to the primary: ``read_session(fresh=True)``, or any read
    in a task context that wrote through :meth:`session` in the last ``replica_max_lag`` +
    ``CHECK_EVERY`` seconds (the longest a replica in use can be behind).
    """

    def __init__(
        self,
        url: str,
        replica_urls: list[str] | None = None,
        *,
        replica_max_lag: float = DEFAULT_MAX_LAG,
    ) -> None:
        self.url = normalise_database_url(url)
        self.engine = create_engine(self.url)
        self.replica_max_lag = replica_max_lag
        self._replicas = [
            Replica(number, engine, async_sessionmaker(engine, expire_on_commit=False))
            for number, engine in enumerate(create_engine(url) for url in replica_urls or [])
        ]
        self.replicas = [replica.engine for replica in self._replicas]
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._turn = itertools.count()
        self._samples = WalSamples(keep_seconds=2 * replica_max_lag + 10 * CHECK_EVERY)
        # monotonic time of this context's last write through session(); per Database
        self._wrote_at: ContextVar[float] = ContextVar(f"waddlebot_db_wrote_{id(self)}")
        self._watcher: asyncio.Task[None] | None = None
        self._migrated_at = 0  # the primary's WAL position after our last migrate()
        self._sqlite_file = sqlite_file_url(make_url(self.url))
        self._batch_writer: SqliteBatchWriter | None = None  # made on first insert_rows
        # Processes sharing a SQLite file tell each other that access changed through this
        # stamp beside it (kernel/security/rbac.py); nothing shares a PostgreSQL server's disk.
        self.access_stamp: ChangeStamp | None = None
        if self._sqlite_file is not None:
            database_file = Path(str(self._sqlite_file.database))
            self.access_stamp = ChangeStamp(database_file.with_name(f"{database_file.name}-access"))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read-write session on the primary; commits on success, rolls back on error."""
        try:
            async with self._sessions() as session, session.begin():
                yield session
        finally:
            if self._replicas:
                self._wrote_at.set(time.monotonic())
                mark = _request_mark.get()
                if mark is not None:
                    mark.wrote = True

    @asynccontextmanager
    async def read_session(self, *, fresh: bool = False) -> AsyncIterator[AsyncSession]:
        """A session for read-only queries: the next replica in use, or the primary.

        ``fresh=True``: the primary, for a read that must see every committed write (one
        made by another request a moment ago, e.g. the page a form redirects to).
        """
        async with self._reader(fresh)() as session:
            yield session

    def _reader(self, fresh: bool) -> async_sessionmaker[AsyncSession]:
        if fresh or not self._replicas:
            return self._sessions
        wrote_at = self._wrote_at.get(None)
        if wrote_at is not None and time.monotonic() - wrote_at < self.own_writes_window:
            return self._sessions  # read your own write: a replica may not have it yet
        if _primary_until.get() > time.time():
            return self._sessions  # this request's client wrote a moment ago
        usable = [replica for replica in self._replicas if replica.usable]
        if not usable:
            return self._sessions
        return usable[next(self._turn) % len(usable)].sessions

    @property
    def own_writes_window(self) -> float:
        """How long after a write its writer reads the primary: the longest a replica in
        use can be behind."""
        return self.replica_max_lag + CHECK_EVERY

    def replica_states(self) -> dict[str, dict[str, object]]:
        """Each replica's last verdict, for health details."""
        return {
            replica.name: {"state": replica.state, "lag_seconds": replica.lag}
            for replica in self._replicas
        }

    async def check_replicas(self) -> None:
        """Judge every replica once (the background loop's step; tests call it directly)."""
        await replica_checks.check(
            self.engine,
            self._replicas,
            self._samples,
            self.replica_max_lag,
            lambda: self._migrated_at,
        )

    async def watch_replicas(self, every: float = CHECK_EVERY) -> None:
        """Check the replicas every ``every`` seconds until cancelled."""
        while True:
            await self.check_replicas()
            report_healthy()
            await asyncio.sleep(every)

    def start(self) -> None:
        """Check the replicas in the background (supervised); nothing to do without any."""
        if self._replicas and self._watcher is None:
            health = TaskHealth("database-replicas")
            self._watcher = asyncio.create_task(
                supervise(health, self.watch_replicas), name=health.name
            )

    async def migrate(self, revision: str = "heads") -> None:
        """Bring the schema to ``revision`` (Alembic upgrade on the primary).

        ``heads``: features add their tables on their own branch off the core revision, so
        every branch head is applied. A schema already at the heads is left alone without
        loading Alembic (:mod:`~waddlebot.kernel.storage.revisions`).
        """
        if revision != "heads" or not await self._at_heads():
            await self._upgrade(revision)
        if self._replicas and self.dialect == "postgresql":
            # Replicas serve reads only once they have replayed the schema too.
            self._migrated_at = await replica_checks.primary_lsn(self.engine)
            for replica in self._replicas:
                if replica.state == "in use":
                    replica.state = "unchecked"

    async def _at_heads(self) -> bool:
        async with self.engine.connect() as connection:
            applied = await connection.run_sync(revisions.applied)
        return applied == revisions.shipped_heads(MIGRATIONS_DIR / "versions")

    async def _upgrade(self, revision: str) -> None:
        async with self.engine.begin() as connection:
            if self.dialect == "postgresql":
                # Several services may start at once: one migrates, the others wait, then no-op.
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            await connection.run_sync(_upgrade, revision)

    async def insert_rows(self, statement: Executable, rows: list[dict[str, Any]]) -> None:
        """Run an INSERT for many rows in one transaction on the primary, the cheapest way the
        database allows: on a SQLite file through ``batch_writer.py`` (on the loop when the
        write lock is free at once, else on its thread), elsewhere through the async engine.
        For batched background writers (execution log, audit store); raises what SQLAlchemy
        raises."""
        if self._sqlite_file is None:
            async with self.engine.begin() as connection:
                await connection.execute(statement, rows)
            return
        if self._batch_writer is None:
            self._batch_writer = SqliteBatchWriter(self._sqlite_file, _enable_sqlite_pragmas)
        await self._batch_writer.insert(statement, rows)

    async def ping(self, engine: AsyncEngine | None = None) -> bool:
        """True when the primary (or ``engine``, a replica) answers a trivial query."""
        try:
            async with (engine or self.engine).connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        if self._batch_writer is not None:
            writer, self._batch_writer = self._batch_writer, None
            await writer.close()
        for engine in (self.engine, *self.replicas):
            await engine.dispose()
