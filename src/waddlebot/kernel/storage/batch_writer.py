"""Batched inserts into a SQLite file in one hop to a writer thread.

Through SQLAlchemy's async engine every DBAPI call of aiosqlite is its own hand-off to the
connection's thread and back (check-out, cursor, execute, commit, reset on return): about six
event-loop wake-ups per transaction. The execution log commits a batch for every command when
commands arrive one at a time, and those hand-offs were the largest single cost of a command
(serial playground throughput rose ~75 % with the write removed). Here the whole transaction —
begin, one executemany, commit — runs in one call on a thread of its own, through a synchronous
engine on the same file with the same pragmas. SQLite serialises writers itself (WAL, a
``busy_timeout``), so this connection and the async engine's share the file safely.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Executable, create_engine, event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import StaticPool


def sqlite_file_url(url: URL) -> URL | None:
    """The synchronous driver's URL for a SQLite file, or None (not SQLite, or in memory:
    another connection would open another, empty, database)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.set(drivername="sqlite")


class SqliteBatchWriter:
    """One connection, one thread: ``insert`` runs a whole transaction per call."""

    def __init__(self, url: URL, on_connect: Callable[[Any, Any], None]) -> None:
        # One connection, only ever used on the writer thread (created there on first use).
        self._engine: Engine = create_engine(
            url,
            poolclass=StaticPool,
            connect_args={"timeout": 30, "check_same_thread": False},
        )
        event.listen(self._engine, "connect", on_connect)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-batch")

    async def insert(self, statement: Executable, rows: list[dict[str, Any]]) -> None:
        """Execute ``statement`` for every row in one transaction; raises what SQLAlchemy
        raises (the transaction is rolled back)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._insert, statement, rows)

    def _insert(self, statement: Executable, rows: list[dict[str, Any]]) -> None:
        with self._engine.begin() as connection:
            connection.execute(statement, rows)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._engine.dispose)
        self._thread.shutdown(wait=True)
