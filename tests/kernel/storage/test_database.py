"""Database: Alembic migrations, constraints and transactions, replica routing, ping.

Everything that takes the ``database`` / ``database_url`` fixture runs on real SQLite and on
real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextvars
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import delete, func, insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from waddlebot.kernel.storage import Database, revisions
from waddlebot.kernel.storage.database import MIGRATIONS_DIR, alembic_config
from waddlebot.kernel.storage.models import Base, Community, Entity, PlatformIdentity, User

CORE_TABLES = {
    "communities",
    "entities",
    "users",
    "platform_identities",
    "memberships",
    "commands",
    "command_executions",
    "api_keys",
}


def head_revisions() -> list[str]:
    """Every branch head: features add their tables on branches off the core revision."""
    return sorted(ScriptDirectory.from_config(alembic_config()).get_heads())


async def table_names(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        names: list[str] = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    return set(names)


async def alembic_versions(db: Database) -> list[str]:
    async with db.engine.connect() as connection:
        rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
        return sorted(row[0] for row in rows)


async def count(db: Database, model: type[Base]) -> int:
    async with db.session() as session:
        total = await session.scalar(select(func.count()).select_from(model))
    assert total is not None
    return total


# --- migrations -----------------------------------------------------------------------------


async def test_migrate_creates_every_core_table_at_head(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert await db.ping() is True
        assert await table_names(db) == set()
        await db.migrate()
        assert CORE_TABLES | {"alembic_version"} <= await table_names(db)
        assert await alembic_versions(db) == head_revisions()
    finally:
        await db.close()


async def test_second_migrate_is_a_noop(database: Database) -> None:
    async with database.session() as session:
        session.add(Community(id="c1", name="Penguins"))
    before = await table_names(database)

    await database.migrate()

    assert await table_names(database) == before
    assert await alembic_versions(database) == head_revisions()
    async with database.read_session() as session:
        assert await session.scalar(select(Community.name).where(Community.id == "c1")) == (
            "Penguins"
        )


def test_the_heads_read_from_the_files_are_alembics_heads() -> None:
    assert sorted(revisions.shipped_heads(MIGRATIONS_DIR / "versions")) == head_revisions()


def test_a_new_migration_file_is_a_new_head(tmp_path: Path) -> None:
    """So a database at the old heads is not taken for current: Alembic runs."""
    for source in (MIGRATIONS_DIR / "versions").glob("*.py"):
        (tmp_path / source.name).write_text(source.read_text())
    (tmp_path / "0003_next.py").write_text(
        'revision: str = "0003_next"\ndown_revision = ("0002_ai", "0002_music")\n'
    )
    heads = revisions.shipped_heads(tmp_path)
    assert "0003_next" in heads
    assert not {"0002_ai", "0002_music"} & heads


async def test_a_database_behind_the_heads_is_upgraded(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.migrate("0001")
        assert await alembic_versions(db) == ["0001"]
        await db.migrate()
        assert await alembic_versions(db) == head_revisions()
        assert CORE_TABLES | {"overlay_tokens"} <= await table_names(db)
    finally:
        await db.close()


MIGRATE_AND_REPORT = """
import asyncio, sys
from waddlebot.kernel.storage import Database

async def main(url):
    db = Database(url)
    await db.migrate()
    await db.close()

asyncio.run(main(sys.argv[1]))
print("alembic loaded" if "alembic" in sys.modules else "alembic not loaded")
"""


def test_a_restart_on_a_current_schema_does_not_load_alembic(tmp_path: Path) -> None:
    """Every start migrates; on a current schema that costs a query, not Alembic's import."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"

    def start() -> str:
        done = subprocess.run(
            [sys.executable, "-c", MIGRATE_AND_REPORT, url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout.strip()

    assert start() == "alembic loaded"  # a fresh database: Alembic creates the schema
    assert start() == "alembic not loaded"


async def test_migrations_match_the_models(database: Database) -> None:
    """Autogenerate finds nothing to add: the migrations and the ORM models agree."""
    import waddlebot.app  # noqa: F401 - registers every feature's models on Base.metadata
    from waddlebot.modules import builtin_modules

    builtin_modules()  # and every built-in module's own tables

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection)
        return list(compare_metadata(context, Base.metadata))

    async with database.engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == []


# --- rows and constraints -------------------------------------------------------------------


async def test_community_and_entity_round_trip(database: Database) -> None:
    async with database.session() as session:
        community = Community(name="Penguins")
        session.add(community)
        await session.flush()
        session.add(
            Entity(
                platform="twitch",
                server_id="123",
                channel_id="123",
                name="#penguins",
                community_id=community.id,
            )
        )
    community_id = community.id
    assert len(community_id) == 32

    async with database.read_session() as session:
        entity = await session.scalar(select(Entity).where(Entity.server_id == "123"))
        assert entity is not None
        assert (entity.platform, entity.channel_id, entity.name) == ("twitch", "123", "#penguins")
        assert entity.community_id == community_id
        assert entity.created_at is not None
        loaded = await session.get(Community, community_id)
        assert loaded is not None
        assert loaded.name == "Penguins"


async def test_duplicate_entity_raises_and_rolls_back_the_whole_session(
    database: Database,
) -> None:
    async with database.session() as session:
        session.add(Community(id="c1", name="First"))
        session.add(Entity(platform="discord", server_id="g", channel_id="ch", community_id="c1"))

    with pytest.raises(IntegrityError):
        async with database.session() as session:
            session.add(Community(id="c2", name="Second"))
            await session.flush()
            session.add(
                Entity(platform="discord", server_id="g", channel_id="ch", community_id="c2")
            )

    async with database.session() as session:
        assert await session.get(Community, "c2") is None  # nothing half-written
        entities = (await session.scalars(select(Entity))).all()
        assert [(e.community_id, e.channel_id) for e in entities] == [("c1", "ch")]

    # Only the full (platform, server_id, channel_id) triple is unique.
    async with database.session() as session:
        session.add_all(
            [
                Entity(platform="slack", server_id="g", channel_id="ch", community_id="c1"),
                Entity(platform="discord", server_id="g2", channel_id="ch", community_id="c1"),
                Entity(platform="discord", server_id="g", channel_id="ch2", community_id="c1"),
            ]
        )
    assert await count(database, Entity) == 4


async def test_insert_rows_writes_a_batch_in_one_transaction(database: Database) -> None:
    rows = [{"id": f"c{n}", "name": f"Community {n}"} for n in range(50)]
    await database.insert_rows(insert(Community), rows)
    assert await count(database, Community) == 50
    async with database.read_session(fresh=True) as session:  # seen through the async engine
        assert (await session.get(Community, "c7")) is not None

    # A refused row refuses the whole batch: nothing half-written.
    clash = [{"id": "new1", "name": "New"}, {"id": "c3", "name": "Again"}]
    with pytest.raises(IntegrityError):
        await database.insert_rows(insert(Community), clash)
    assert await count(database, Community) == 50

    # The foreign-key pragma holds on the batch writer's connection too.
    orphan = {"platform": "twitch", "server_id": "s", "channel_id": "c", "community_id": "none"}
    with pytest.raises(IntegrityError):
        await database.insert_rows(insert(Entity), [{"id": "e1", **orphan}])


async def test_insert_rows_works_again_after_close(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.migrate()
        await db.insert_rows(insert(Community), [{"id": "a", "name": "A"}])
        await db.close()
        await db.insert_rows(insert(Community), [{"id": "b", "name": "B"}])
        assert await count(db, Community) == 2
    finally:
        await db.close()


async def test_foreign_keys_are_enforced_and_deletes_cascade(database: Database) -> None:
    with pytest.raises(IntegrityError):
        async with database.session() as session:
            session.add(
                Entity(platform="twitch", server_id="s", channel_id="c", community_id="missing")
            )
    assert await count(database, Entity) == 0

    async with database.session() as session:
        session.add_all([Community(id="c1", name="Gone"), Community(id="c2", name="Stays")])
        await session.flush()
        session.add_all(
            [
                Entity(platform="twitch", server_id="1", channel_id="1", community_id="c1"),
                Entity(platform="twitch", server_id="2", channel_id="2", community_id="c2"),
            ]
        )
    async with database.session() as session:
        await session.execute(delete(Community).where(Community.id == "c1"))

    async with database.session() as session:
        remaining = (await session.scalars(select(Entity.community_id))).all()
    assert remaining == ["c2"]


async def test_platform_identity_is_unique_per_platform(database: Database) -> None:
    async with database.session() as session:
        session.add_all([User(id="u1", display_name="Alice"), User(id="u2", display_name="Bob")])
        await session.flush()
        session.add(
            PlatformIdentity(
                user_id="u1", platform="twitch", platform_user_id="42", username="alice"
            )
        )
    with pytest.raises(IntegrityError):
        async with database.session() as session:
            session.add(
                PlatformIdentity(
                    user_id="u2", platform="twitch", platform_user_id="42", username="bob"
                )
            )
    assert await count(database, PlatformIdentity) == 1


async def test_session_commits_on_success_and_rolls_back_on_error(database: Database) -> None:
    with pytest.raises(RuntimeError, match="abort"):
        async with database.session() as session:
            session.add(Community(id="nope", name="Rolled back"))
            await session.flush()
            raise RuntimeError("abort")
    assert await count(database, Community) == 0

    async with database.session() as session:
        session.add(Community(id="yes", name="Committed"))
    assert await count(database, Community) == 1


# --- replicas -------------------------------------------------------------------------------


@pytest.fixture
async def sqlite_files(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """Three migrated SQLite files: a primary and two 'replicas', each with its own marker row."""
    urls = {name: f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}" for name in ("p", "r1", "r2")}
    for name, url in urls.items():
        direct = Database(url)
        try:
            await direct.migrate()
            async with direct.session() as session:
                session.add(Community(id="marker", name=name))
        finally:
            await direct.close()
    yield urls


async def marker(db: Database, *, read: bool) -> str | None:
    opener = db.read_session if read else db.session
    async with opener() as session:
        return await session.scalar(select(Community.name).where(Community.id == "marker"))


async def test_read_sessions_go_to_the_replicas_in_turn(sqlite_files: dict[str, str]) -> None:
    db = Database(sqlite_files["p"], replica_urls=[sqlite_files["r1"], sqlite_files["r2"]])
    try:
        assert await marker(db, read=True) == "p"  # no replica is used before it is checked
        await db.check_replicas()
        seen = [await marker(db, read=True) for _ in range(5)]
        assert seen == ["r1", "r2", "r1", "r2", "r1"]
        assert await marker(db, read=False) == "p"
    finally:
        await db.close()


async def test_writes_go_to_the_primary_only(sqlite_files: dict[str, str]) -> None:
    db = Database(sqlite_files["p"], replica_urls=[sqlite_files["r1"]])
    try:
        await db.check_replicas()
        async with db.session() as session:
            session.add(Community(id="new", name="written"))
        async with db.read_session() as session:  # this context wrote: the primary
            assert await session.get(Community, "new") is not None
        async with db.read_session(fresh=True) as session:
            assert await session.get(Community, "new") is not None

        async def elsewhere() -> Community | None:  # another request: the replica
            async with db.read_session() as session:
                return await session.get(Community, "new")

        assert await asyncio.create_task(elsewhere(), context=contextvars.Context()) is None
        async with db.session() as session:
            found = await session.get(Community, "new")
            assert found is not None
            assert found.name == "written"
    finally:
        await db.close()


async def test_without_replicas_reads_use_the_primary(sqlite_files: dict[str, str]) -> None:
    db = Database(sqlite_files["p"])
    try:
        assert [await marker(db, read=True) for _ in range(3)] == ["p", "p", "p"]
    finally:
        await db.close()


async def test_plain_urls_are_normalised_for_primary_and_replicas(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}", replica_urls=[f"sqlite:///{tmp_path / 'r.db'}"])
    try:
        assert db.url.startswith("sqlite+aiosqlite:///")
        assert db.dialect == "sqlite"
        assert [replica.url.drivername for replica in db.replicas] == ["sqlite+aiosqlite"]
        assert await db.ping()
    finally:
        await db.close()


# --- ping: reachable is checked on both engines in test_migrate_creates_... ---------------


async def test_ping_is_false_for_an_unreachable_postgres() -> None:
    db = Database("postgresql+asyncpg://postgres@127.0.0.1:1/x")
    try:
        assert db.dialect == "postgresql"
        assert await db.ping() is False
    finally:
        await db.close()


# --- cancellation ---------------------------------------------------------------------------


def slow_query(db: Database) -> str:
    """A read that keeps the database busy for a while (so a cancel lands inside it)."""
    if db.dialect == "postgresql":
        return "SELECT pg_sleep(0.5)"
    return (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)"
        " SELECT count(*) FROM n"
    )


async def test_a_session_cancelled_mid_query_leaves_the_database_writable(
    database: Database,
) -> None:
    """A task cancelled while its session waits on the database (an in-process module's
    timeout, shutdown) must not keep that session's write lock: SQLAlchemy closes such a
    connection without rolling back, and on SQLite a closed connection whose cursor is still
    referenced (here by the cancelled task's traceback, which the task keeps) held the lock
    until the garbage collector freed it - every other write failed with 'database is locked'."""
    started = asyncio.Event()

    async def write_then_wait() -> None:
        async with database.session() as session:
            session.add(Community(id="cancelled", name="Never committed"))
            await session.flush()
            started.set()
            await session.execute(text(slow_query(database)))

    task = asyncio.create_task(write_then_wait())
    await started.wait()
    await asyncio.sleep(0.05)  # the slow query is running
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async with asyncio.timeout(3):  # less than the busy timeout: a held lock fails this
        async with database.session() as session:
            session.add(Community(id="after", name="Written"))
    assert await count(database, Community) == 1
    assert task.cancelled()  # the task and its traceback lived until here
