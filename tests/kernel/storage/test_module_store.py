"""Module data in the database behind the cache, on SQLite + memory and PostgreSQL + Redis:
values survive a new Database and a cold cache, limits are refused, expired values vanish and
are purged, counters stay exact under concurrent increments from two engines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from waddlebot.kernel.backends import Backend, open_backend
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Community
from waddlebot.kernel.storage.module_data import ModuleDatum
from waddlebot.kernel.storage.module_store import WRITTEN, DatabaseDataStore, cache_key
from waddlebot.sdk.storage import MAX_KEYS, ModuleStorage, Scope, StorageRefused


@pytest.fixture
async def community(database: Database) -> str:
    async with database.session() as session:
        session.add(Community(id="c1", name="Penguins"))
        session.add(Community(id="c2", name="Puffins"))
    return "c1"


@pytest.fixture
async def kv_backend() -> AsyncIterator[Backend]:
    opened = await open_backend(None)
    yield opened
    await opened.close()


def storage(database: Database, backend: Backend, community: str = "c1") -> ModuleStorage:
    return ModuleStorage(DatabaseDataStore(database, backend.kv), "dice", community)


async def rows(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(ModuleDatum)) or 0)


async def test_values_round_trip_and_survive_a_cold_cache(
    database: Database, backend: Backend, community: str, database_url: str
) -> None:
    store = storage(database, backend)
    assert await store.get("missing", "default") == "default"
    await store.set("config", {"sides": [4, 6, 20], "name": "Zoë"})
    await store.set("flag", True)
    assert await store.incr("rolls") == 1
    assert await store.incr("rolls", 4) == 5
    assert await store.get("config") == {"sides": [4, 6, 20], "name": "Zoë"}
    assert await store.get("rolls") == 5

    # a fresh process: new engine, empty cache
    reopened = Database(database_url)
    cold = await open_backend(None)
    try:
        again = storage(reopened, cold)
        assert await again.get("config") == {"sides": [4, 6, 20], "name": "Zoë"}
        assert await again.get("rolls") == 5
        assert await again.incr("rolls", -2) == 3
        assert await again.keys() == ["config", "flag", "rolls"]
    finally:
        await cold.close()
        await reopened.close()


async def test_scopes_never_mix(database: Database, backend: Backend, community: str) -> None:
    here = storage(database, backend)
    there = storage(database, backend, "c2")
    other = ModuleStorage(DatabaseDataStore(database, backend.kv), "quotes", "c1")
    alice, bob = here.for_user("playground:alice"), here.for_user("playground:bob")
    await here.set("k", "community")
    await there.set("k", "elsewhere")
    await other.set("k", "another module")
    await alice.set("k", "alice")
    assert await bob.get("k") is None
    assert [await s.get("k") for s in (here, there, other, alice)] == [
        "community",
        "elsewhere",
        "another module",
        "alice",
    ]
    assert await here.keys() == ["k"] and await alice.keys() == ["k"] and await bob.keys() == []
    assert await alice.delete("k") is True and await alice.delete("k") is False
    assert await here.get("k") == "community"


async def test_keys_lists_by_prefix_with_wildcards_taken_literally(
    database: Database, backend: Backend, community: str
) -> None:
    store = storage(database, backend)
    for key in ("quote:1", "quote:2", "quote%x", "quote_y", "other"):
        await store.set(key, 1)
    assert await store.keys("quote:") == ["quote:1", "quote:2"]
    assert await store.keys("quote%") == ["quote%x"]
    assert await store.keys("quote_") == ["quote_y"]
    assert await store.keys(limit=2) == ["other", "quote%x"]


async def test_reads_are_served_from_the_cache_and_writes_invalidate_it(
    database: Database, backend: Backend, community: str
) -> None:
    store = ModuleStorage(DatabaseDataStore(database, backend.kv, settle=0.2), "dice", "c1")
    scope = Scope("dice", "c1")
    await store.set("greeting", "hi")
    assert await backend.kv.get(cache_key(scope, "greeting")) == WRITTEN
    assert await store.get("greeting") == "hi"  # read from the database, not cached yet
    assert await backend.kv.get(cache_key(scope, "greeting")) == WRITTEN
    await asyncio.sleep(0.3)
    assert await store.get("greeting") == "hi"
    assert await backend.kv.get(cache_key(scope, "greeting")) == b'"hi"'
    assert await store.get("nothing") is None
    assert await backend.kv.get(cache_key(scope, "nothing")) == b""  # misses are cached too

    # warm: a row changed behind the cache's back is not even read
    async with database.session() as session:
        row = await session.get(ModuleDatum, ("dice", "c1", "", "greeting"))
        assert row is not None
        row.value = '"changed underneath"'
    assert await store.get("greeting") == "hi"

    await store.set("greeting", "hello")  # a write replaces the entry with its mark
    assert await store.get("greeting") == "hello"
    await store.set("nothing", 1)
    assert await store.get("nothing") == 1
    await store.incr("nothing")
    assert await store.get("nothing") == 2
    await store.delete("nothing")
    assert await store.get("nothing") is None


async def test_a_read_racing_a_write_cannot_cache_the_old_value(
    database: Database, backend: Backend, community: str
) -> None:
    """A reader that fetched the row before a write commits must not put it back afterwards."""
    store = DatabaseDataStore(database, backend.kv, settle=60)
    scope = Scope("dice", "c1")
    await store.set(scope, "k", '"old"', None)
    await backend.kv.delete(cache_key(scope, "k"))  # cold, as after the mark expired
    original = backend.kv.set

    async def write_in_between(key: str, value: bytes | str, **options: object) -> bool:
        if value == b'"old"':  # the reader is about to cache what it read: a write lands first
            backend.kv.set = original  # type: ignore[method-assign]
            await store.set(scope, "k", '"new"', None)
        return await original(key, value, **options)  # type: ignore[arg-type]

    backend.kv.set = write_in_between  # type: ignore[method-assign]
    try:
        assert await store.get(scope, "k") == '"old"'  # what it read before the write
    finally:
        backend.kv.set = original  # type: ignore[method-assign]
    assert await store.get(scope, "k") == '"new"'
    assert await backend.kv.get(cache_key(scope, "k")) == WRITTEN


async def test_limits_are_refused_with_a_clear_message(
    database: Database, backend: Backend, community: str
) -> None:
    store = storage(database, backend)
    with pytest.raises(StorageRefused, match="1 to 200 characters"):
        await store.set("k" * 201, 1)
    with pytest.raises(StorageRefused, match="1 to 200 characters"):
        await store.get("")
    await store.set("k" * 200, 1)
    with pytest.raises(StorageRefused, match="at most 64 KiB"):
        await store.set("big", "x" * (64 * 1024))
    await store.set("big", "x" * (64 * 1024 - 2))  # the quotes make it exactly 64 KiB
    with pytest.raises(StorageRefused, match="must be JSON"):
        await store.set("odd", {1, 2})
    with pytest.raises(StorageRefused, match="must be JSON"):
        await store.set("nan", float("nan"))
    await store.set("word", "seven")
    with pytest.raises(StorageRefused, match="does not hold a whole number"):
        await store.incr("word")
    await store.set("real", 1.5)
    with pytest.raises(StorageRefused, match="does not hold a whole number"):
        await store.incr("real")
    assert await store.get("word") == "seven" and await store.get("real") == 1.5
    for ttl in (0, -1, float("nan"), float("inf"), 1e12):
        with pytest.raises(StorageRefused, match="TTL is a number of seconds"):
            await store.set("ttl", 1, ttl=ttl)


async def test_at_most_ten_thousand_keys_per_module_and_community(
    database: Database, backend: Backend, community: str
) -> None:
    async with database.session() as session:
        session.add_all(
            ModuleDatum(module="dice", community_id="c1", scope="", key=f"k{n}", value="1")
            for n in range(MAX_KEYS - 1)
        )
    store = storage(database, backend)
    await store.for_user("playground:alice").set("last", 1)  # user keys count too
    with pytest.raises(StorageRefused, match="already keeps 10,000 keys"):
        await store.set("one-more", 1)
    with pytest.raises(StorageRefused, match="already keeps 10,000 keys"):
        await store.incr("one-more")
    await store.set("k1", 2)  # replacing an existing key is fine
    assert await store.incr("k2") == 2
    assert await storage(database, backend, "c2").set("k", 1) is None  # other communities too
    await store.delete("k3")
    await store.set("one-more", 1)
    assert await rows(database) == MAX_KEYS + 1


async def test_expired_values_vanish_and_are_purged(
    database: Database, backend: Backend, community: str
) -> None:
    store = storage(database, backend)
    await store.set("short", "soon gone", ttl=1.5)  # long enough for a loaded machine
    await store.set("counter", 7, ttl=1.5)
    await store.set("kept", "here")
    assert await store.get("short") == "soon gone"
    assert sorted(await store.keys()) == ["counter", "kept", "short"]
    await asyncio.sleep(1.7)
    assert await store.get("short") is None  # the cached copy expired with the value
    assert await store.keys() == ["kept"]
    assert await store.delete("short") is False
    assert await store.incr("counter") == 1  # an expired counter starts again
    assert await store.incr("counter") == 2

    for n in range(5):
        await store.for_user(f"u{n}").set("short", "again", ttl=0.1)
    await asyncio.sleep(0.2)
    assert await DatabaseDataStore(database, backend.kv).purge(batch=2) == 5
    assert await rows(database) == 2


async def test_a_full_community_makes_room_by_dropping_its_expired_keys(
    database: Database, backend: Backend, community: str
) -> None:
    async with database.session() as session:
        session.add_all(
            ModuleDatum(module="dice", community_id="c1", scope="", key=f"k{n}", value="1")
            for n in range(MAX_KEYS - 1)
        )
    store = storage(database, backend)
    await store.set("fleeting", 1, ttl=0.1)
    await asyncio.sleep(0.2)
    await store.set("lasting", 1)
    assert await store.get("lasting") == 1


async def test_concurrent_increments_from_two_engines_are_exact(
    database: Database, backend: Backend, community: str, database_url: str
) -> None:
    second = Database(database_url)
    try:
        one = storage(database, backend)
        two = storage(second, backend)
        # 12 at once per engine: enough to race, and at most 24 of the PostgreSQL server's
        # connections (100 by default), which the other test workers share.
        results = await asyncio.wait_for(
            asyncio.gather(
                *(one.incr("hits") for _ in range(12)), *(two.incr("hits") for _ in range(12))
            ),
            timeout=60,
        )
        assert sorted(results) == list(range(1, 25))  # every increment saw a distinct total
        assert await one.get("hits") == 24
    finally:
        await second.close()
