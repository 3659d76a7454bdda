"""``waddlebot backup FILE`` and ``waddlebot restore FILE``: the whole database in one file.

SQLite: SQLite's online backup API copies a consistent snapshot, even while the bot runs.
PostgreSQL: ``pg_dump -Fc`` and ``pg_restore --clean --if-exists`` against the configured URL
(the PostgreSQL client tools must be installed, of the server's major version or newer).

Secrets stay sealed: platform tokens live in ``*_sealed`` columns as ciphertext, and the backup
holds that ciphertext, never plaintext. Restoring therefore needs the same
``WADDLEBOT_SECRET_KEY`` (or ``WADDLEBOT_ENCRYPTION_KEYS``) the backup was made under; the
secret key file of the data directory is not part of the backup, keep it safe separately.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import inspect, literal, select, table
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from waddlebot.kernel.errors import DependencyUnavailable, Refusal
from waddlebot.kernel.objects import ObjectInfo, ObjectStore, open_object_store
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database

T = TypeVar("T")


class BackupError(Exception):
    """Something the operator must fix; the message is one clear line."""


BACKUPS = "backups/"
"""Where backups live in the object store."""


def store_key(file: Path, now: datetime) -> str:
    """``backups/<UTC time>-<file name>``, the name reduced to what keys allow."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", file.name).lstrip(".-")[:80] or "backup"
    return f"{BACKUPS}{now:%Y%m%dT%H%M%SZ}-{name}"


def upload(settings: Settings, file: Path) -> str:
    """Copy a written backup into the object store; its key."""
    key = store_key(file, datetime.now(UTC))

    async def put(store: ObjectStore) -> None:
        await store.put_file(key, file, content_type="application/octet-stream")

    _with_store(settings, put)
    return key


def download(settings: Settings, key: str, target: Path) -> None:
    """Fetch the stored backup ``key`` into ``target``."""

    async def get(store: ObjectStore) -> bool:
        return await store.get_file(key, target)

    if not _with_store(settings, get):
        raise BackupError(f"no backup {key!r} in the object store (see `waddlebot backups`)")


def stored(settings: Settings) -> list[ObjectInfo]:
    """The backups in the object store, oldest first."""

    async def listing(store: ObjectStore) -> list[ObjectInfo]:
        return await store.list(BACKUPS)

    return _with_store(settings, listing)


def _with_store(settings: Settings, work: Callable[[ObjectStore], Awaitable[T]]) -> T:
    async def run() -> T:
        store = open_object_store(settings)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except (DependencyUnavailable, Refusal) as error:
        raise BackupError(str(error)) from None


def backup(settings: Settings, target: Path) -> str:
    """Write the database to ``target``; a short description of what was written."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        _sqlite_backup(_sqlite_file(url), target)
    else:
        _pg_run("pg_dump", ["--format=custom", f"--file={target}", "--no-owner"], url)
    return f"backed up {_where(url)} to {target} ({target.stat().st_size} bytes)"


def restore(settings: Settings, source: Path, *, overwrite: bool) -> str:
    """Replace the database's contents with ``source``; refuses a non-empty one unless told."""
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    url = make_url(settings.resolved_database_url)
    sqlite = url.get_backend_name() == "sqlite"
    if sqlite:
        _check_sqlite_backup(source)
    elif shutil.which("pg_restore") is None:
        raise BackupError(_missing_tool("pg_restore"))
    if not overwrite and asyncio.run(_has_data(settings.resolved_database_url)):
        raise BackupError(
            f"{_where(url)} already holds data; run again with --yes to replace it "
            "(stop every waddlebot process using it first)"
        )
    if sqlite:
        _sqlite_restore(source, _sqlite_file(url))
    else:
        _pg_run(
            "pg_restore",
            ["--clean", "--if-exists", "--no-owner", "--single-transaction", str(source)],
            url,
        )
    return f"restored {source} into {_where(url)}"


# --------------------------------------------------------------------------- SQLite


def _sqlite_file(url: URL) -> Path:
    name = url.database
    if not name or name == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(name)


def _sqlite_backup(database: Path, target: Path) -> None:
    if not database.is_file():
        raise BackupError(f"no database at {database} (run `waddlebot migrate` first?)")
    partial = target.with_name(target.name + ".partial")
    try:
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)
            finally:
                copy.close()
        finally:
            source.close()
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as error:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backup failed: {error}") from None


def _check_sqlite_backup(source: Path) -> None:
    try:
        connection = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        raise BackupError(
            f"{source} is not a SQLite backup (a PostgreSQL one needs WADDLEBOT_DATABASE_URL)"
        ) from None


def _sqlite_restore(source: Path, database: Path) -> None:
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
        backup_file = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            live = sqlite3.connect(database)
            try:
                backup_file.backup(live)  # replaces every page of the live database
            finally:
                live.close()
        finally:
            backup_file.close()
    except (sqlite3.Error, OSError) as error:
        raise BackupError(f"restore failed: {error}") from None


# --------------------------------------------------------------------------- PostgreSQL


def _pg_run(tool: str, args: list[str], url: URL) -> None:
    """Run pg_dump / pg_restore against ``url``; the password goes in the environment."""
    if shutil.which(tool) is None:
        raise BackupError(_missing_tool(tool))
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    dsn = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    finished = subprocess.run(  # noqa: S603 - our tool, our arguments, no shell
        [tool, f"--dbname={dsn}", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if finished.returncode != 0:
        lines = [line for line in finished.stderr.splitlines() if line.strip()]
        raise BackupError(f"{tool} failed: {lines[-1] if lines else 'no message'}")


def _missing_tool(tool: str) -> str:
    return (
        f"{tool} is not installed: install the PostgreSQL client tools "
        "(e.g. `apt install postgresql-client`) of the server's major version or newer"
    )


# --------------------------------------------------------------------------- both


async def _has_data(database_url: str) -> bool:
    """True when any table but Alembic's holds a row."""
    db = Database(database_url)
    try:
        async with db.engine.connect() as connection:
            return await _any_rows(connection)
    except Exception as error:
        raise BackupError(f"cannot open the database: {error}") from None
    finally:
        await db.close()


async def _any_rows(connection: AsyncConnection) -> bool:
    tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    for name in tables:
        if name == "alembic_version":
            continue
        found = await connection.execute(select(literal(1)).select_from(table(name)).limit(1))
        if found.first() is not None:
            return True
    return False


def _where(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.render_as_string(hide_password=True)
