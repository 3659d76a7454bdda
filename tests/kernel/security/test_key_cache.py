"""The verified-key cache: the database once per TTL, revocation at once (this process and,
through pub/sub, the others), never past the key's own expiry, never the raw key."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete

from waddlebot.kernel.backends import Backend
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.security.api_keys import (
    Principal,
    create_api_key,
    revoke_api_key,
    verify_api_key,
)
from waddlebot.kernel.security.key_cache import VerifiedKeys
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import ApiKey


@pytest.fixture
async def processes(tmp_path: Path, backend: Backend) -> AsyncIterator[tuple[Runtime, Runtime]]:
    """Two "processes" on one database and one backend, each with its own key cache."""
    settings = Settings(data_dir=tmp_path / "data", secret_key="key-cache-secret")
    first, second = await Runtime.open(settings, backend), await Runtime.open(settings, backend)
    await first.db.migrate()
    first.keys.start()
    second.keys.start()
    await asyncio.sleep(0.05)  # both subscribed
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_a_verified_key_is_answered_from_memory(processes: tuple[Runtime, Runtime]) -> None:
    runtime, _ = processes
    key, row = await create_api_key(runtime.db, name="k", scopes=["things:read"])
    principal = await verify_api_key(runtime.db, key, runtime.keys)
    assert principal is not None and principal.name == "k"
    async with runtime.db.session() as session:  # gone behind the cache's back
        await session.execute(delete(ApiKey).where(ApiKey.id == row.id))
    assert await verify_api_key(runtime.db, key, runtime.keys) == principal  # no database read
    assert await verify_api_key(runtime.db, key) is None  # without the cache: the database
    assert key not in repr(runtime.keys._entries)  # keyed by hash, never the key
    assert hashlib.sha256(key.encode()).hexdigest() in runtime.keys._entries


async def test_revocation_is_immediate_here_and_in_other_processes(
    processes: tuple[Runtime, Runtime],
) -> None:
    here, there = processes
    key, row = await create_api_key(here.db, name="k", scopes=["things:read"])
    assert await verify_api_key(here.db, key, here.keys) is not None
    assert await verify_api_key(there.db, key, there.keys) is not None  # both cached now
    assert await revoke_api_key(here.db, row.id, keys=here.keys)
    assert await verify_api_key(here.db, key, here.keys) is None  # this process: at once
    async with asyncio.timeout(1.0):  # the other: as soon as pub/sub delivers
        while await verify_api_key(there.db, key, there.keys) is not None:
            await asyncio.sleep(0.01)


async def test_a_revocation_nobody_announced_holds_within_the_ttl(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", secret_key="key-cache-secret")
    runtime = await Runtime.open(settings)
    runtime.keys = VerifiedKeys(ttl=0.3)
    try:
        await runtime.db.migrate()
        key, row = await create_api_key(runtime.db, name="k", scopes=[])
        assert await verify_api_key(runtime.db, key, runtime.keys) is not None
        assert await revoke_api_key(runtime.db, row.id)  # as the CLI does: no cache at hand
        await asyncio.sleep(0.35)
        assert await verify_api_key(runtime.db, key, runtime.keys) is None
    finally:
        await runtime.close()


async def test_never_cached_past_the_keys_expiry(processes: tuple[Runtime, Runtime]) -> None:
    runtime, _ = processes
    runtime.keys.ttl = 60.0
    key, _ = await create_api_key(
        runtime.db, name="short", scopes=[], expires_in=timedelta(seconds=0.3)
    )
    assert await verify_api_key(runtime.db, key, runtime.keys) is not None
    await asyncio.sleep(0.35)
    assert await verify_api_key(runtime.db, key, runtime.keys) is None


async def test_a_verification_racing_a_revocation_caches_nothing() -> None:
    keys = VerifiedKeys()
    seen = keys.generation
    keys.forget("some-other-hash")  # a revocation committed while the row was being read
    keys.put("h", Principal(name="k", scopes=frozenset(), kind="api_key"), None, seen=seen)
    assert keys.get("h") is None
