"""The SQLite batch writer: small batches on the loop without ever waiting on it, the rest
(and anything the loop could not lock) on its own thread."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.batch_writer import INLINE_MAX_ROWS, SqliteBatchWriter
from waddlebot.kernel.storage.models import Community


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[tuple[Database, Path]]:
    path = tmp_path / "batch.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.migrate()
    try:
        yield db, path
    finally:
        await db.close()


def writer_of(db: Database) -> SqliteBatchWriter:
    writer = db._batch_writer
    assert writer is not None
    return writer


async def communities(db: Database) -> int:
    async with db.read_session(fresh=True) as session:
        total = await session.scalar(select(func.count()).select_from(Community))
    return int(total or 0)


def rows(prefix: str, count: int) -> list[dict[str, str]]:
    return [{"id": f"{prefix}{n}", "name": f"{prefix} {n}"} for n in range(count)]


async def test_a_small_batch_is_written_on_the_loop(sqlite_db: tuple[Database, Path]) -> None:
    db, _ = sqlite_db
    await db.insert_rows(insert(Community), rows("a", 3))
    writer = writer_of(db)
    assert (writer.inline_writes, writer.threaded_writes) == (1, 0)
    assert await communities(db) == 3


async def test_a_large_batch_goes_to_the_thread(sqlite_db: tuple[Database, Path]) -> None:
    db, _ = sqlite_db
    await db.insert_rows(insert(Community), rows("b", INLINE_MAX_ROWS + 1))
    writer = writer_of(db)
    assert (writer.inline_writes, writer.threaded_writes) == (0, 1)
    assert await communities(db) == INLINE_MAX_ROWS + 1


async def test_a_locked_database_never_blocks_the_loop(sqlite_db: tuple[Database, Path]) -> None:
    """Another connection holds the write lock: the batch waits on the thread, the loop runs
    on, and the batch is written once the lock is released."""
    db, path = sqlite_db
    await db.insert_rows(insert(Community), rows("warm", 1))  # the writer exists
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        write = asyncio.create_task(db.insert_rows(insert(Community), rows("c", 2)))
        started = time.monotonic()
        for _ in range(20):  # the loop keeps turning while the batch waits
            await asyncio.sleep(0.01)
        assert time.monotonic() - started < 2.0  # not the 5 s busy timeout, nor 30 s
        assert not write.done()
        other.execute("COMMIT")
        await asyncio.wait_for(write, timeout=10)
    finally:
        other.close()
    writer = writer_of(db)
    assert (writer.inline_writes, writer.threaded_writes) == (1, 1)
    assert await communities(db) == 3


async def test_a_refused_batch_writes_nothing_either_way(
    sqlite_db: tuple[Database, Path],
) -> None:
    db, _ = sqlite_db
    await db.insert_rows(insert(Community), rows("d", 1))
    for batch in (rows("d", 2), rows("d", INLINE_MAX_ROWS + 1)):  # inline, then threaded
        with pytest.raises(Exception, match="UNIQUE"):
            await db.insert_rows(insert(Community), batch)
    assert await communities(db) == 1


async def test_the_thread_checkpoints_what_the_loop_wrote(
    sqlite_db: tuple[Database, Path], tmp_path: Path
) -> None:
    """The loop's connection never checkpoints; once a second after it wrote, the thread
    moves the WAL into the database file (seen by copying the file alone, without its WAL)."""
    db, path = sqlite_db
    await db.insert_rows(insert(Community), rows("e", 5))
    writer = writer_of(db)
    writer._checkpointed -= 2.0  # as if the last checkpoint was two seconds ago
    await db.insert_rows(insert(Community), rows("f", 5))
    assert writer._checkpoint is not None
    await writer._checkpoint
    alone = tmp_path / "alone.db"
    alone.write_bytes(path.read_bytes())  # the main file only: no -wal beside it
    copy = sqlite3.connect(alone)
    try:
        (count,) = copy.execute("SELECT count(*) FROM communities").fetchone()
    finally:
        copy.close()
    assert count == 10
