"""Shared fixtures: every backend-facing test runs on the in-memory backend and real Redis,
and every storage-facing test on real SQLite and real PostgreSQL.

``WADDLEBOT_TEST_REDIS_URL`` and ``WADDLEBOT_TEST_DATABASE_URL`` point at the real servers
(.ci/run sets them). ``WADDLEBOT_TEST_REPLICA_URL``, a streaming replica of that PostgreSQL
(scripts/test.sh starts one), makes the PostgreSQL ``database`` read through it, as a
deployment with replicas does, and the distributed ``stack_settings`` of tests marked
``replica_reads`` (not all of them yet: a test that writes through one actor and at once
reads through another, e.g. a portal setting and then a chat command, can read a replica
that has not replayed the write — lag the product accepts, a test cannot). Locally, when they
are unset, the Redis/PostgreSQL variants are skipped; under ``CI=true`` a missing server is
an error, never a skip (scripts/test.sh fails the run itself when the replica cannot start).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from waddlebot.kernel.backends import Backend, open_backend
from waddlebot.kernel.backends.redis import RedisBackend
from waddlebot.kernel.settings import Settings, normalise_database_url
from waddlebot.kernel.storage import Database

REDIS_URL = os.environ.get("WADDLEBOT_TEST_REDIS_URL")
DATABASE_URL = os.environ.get("WADDLEBOT_TEST_DATABASE_URL")
REPLICA_URL = os.environ.get("WADDLEBOT_TEST_REPLICA_URL")
IN_CI = os.environ.get("CI", "").lower() == "true"

# A loaded machine (2 cores, 4 test workers, browsers, tool processes) can take longer than
# the product's 5 s default for a playground reply: tests wait longer rather than fail on load.
os.environ.setdefault("WADDLEBOT_PLAYGROUND_REPLY_TIMEOUT", "20")


def require_service(url: str | None, name: str, variable: str) -> str:
    """Return ``url``, or skip locally / fail in CI when the real service is not configured."""
    if url:
        return url
    if IN_CI:
        pytest.fail(f"{name} is required in CI: set {variable}")
    pytest.skip(f"{name} not configured: set {variable} to run this variant")


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """A fresh backend of each kind; the Redis one lives in its own key namespace."""
    if request.param == "memory":
        opened = await open_backend(None)
    else:
        url = require_service(REDIS_URL, "Redis", "WADDLEBOT_TEST_REDIS_URL")
        opened = await open_backend(url, namespace=f"wbtest-{uuid.uuid4().hex[:12]}")
    try:
        yield opened
    finally:
        await drop_test_keys(opened)
        await opened.close()


async def drop_test_keys(backend: Backend) -> None:
    """Delete what a test left in its Redis namespace (the memory backend needs nothing)."""
    if isinstance(backend, RedisBackend):
        await backend.drop_namespace()


@asynccontextmanager
async def fresh_postgres_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database on the test server, dropped afterwards."""
    name = f"wbtest_{uuid.uuid4().hex[:16]}"
    server = make_url(normalise_database_url(server_url))
    admin_dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


async def replica_urls_for(database_url: str) -> list[str]:
    """The test replica's URL for the database at ``database_url`` once it has replicated
    there; no replica configured (or a SQLite database): none."""
    server = make_url(normalise_database_url(database_url))
    if not REPLICA_URL or server.get_backend_name() != "postgresql":
        return []
    replica = make_url(normalise_database_url(REPLICA_URL)).set(database=server.database)
    dsn = replica.set(drivername="postgresql").render_as_string(hide_password=False)
    for _ in range(100):  # CREATE DATABASE replays within milliseconds; allow 10 s
        try:
            connection = await asyncpg.connect(dsn)
        except asyncpg.InvalidCatalogNameError:
            await asyncio.sleep(0.1)
            continue
        await connection.close()
        return [replica.render_as_string(hide_password=False)]
    pytest.fail(f"database {server.database} never appeared on the replica")


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL to an empty database: a SQLite file, or a fresh database on real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    url = require_service(DATABASE_URL, "PostgreSQL", "WADDLEBOT_TEST_DATABASE_URL")
    async with fresh_postgres_database(url) as fresh:
        yield fresh


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated database on each engine (PostgreSQL: reading from the test replica, if any)."""
    db = Database(database_url, await replica_urls_for(database_url))
    db.start()
    await db.migrate()
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture(params=["embedded", "distributed"])
async def stack_settings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    """Settings for both ways of running: SQLite + in-memory, or PostgreSQL + Redis."""
    base = {"data_dir": tmp_path / "data", "secret_key": "test-secret", "log_format": "console"}
    if request.param == "embedded":
        yield Settings(**base)  # type: ignore[arg-type]
        return
    redis_url = require_service(REDIS_URL, "Redis", "WADDLEBOT_TEST_REDIS_URL")
    db_url = require_service(DATABASE_URL, "PostgreSQL", "WADDLEBOT_TEST_DATABASE_URL")
    namespace = f"wbtest-{uuid.uuid4().hex[:12]}"
    async with fresh_postgres_database(db_url) as fresh:
        yield Settings(  # type: ignore[arg-type]
            **base,
            database_url=fresh,
            database_replica_urls=(
                await replica_urls_for(fresh)
                if request.node.get_closest_marker("replica_reads")
                else []
            ),
            redis_url=redis_url,
            redis_namespace=namespace,
        )
    cleanup = await open_backend(redis_url, namespace=namespace)
    await drop_test_keys(cleanup)
    await cleanup.close()
