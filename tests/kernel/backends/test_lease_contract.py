"""The lease contract: every test runs on the in-memory backend and on real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from waddlebot.kernel.backends import Backend


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_acquire_is_exclusive_and_tokens_grow(backend: Backend) -> None:
    item, other = unique("item"), unique("item")
    first = await backend.leases.acquire(item, "a", ttl=10)
    assert first is not None
    assert await backend.leases.acquire(item, "b", ttl=10) is None
    assert await backend.leases.acquire(item, "a", ttl=10) is None  # not re-entrant
    second = await backend.leases.acquire(other, "b", ttl=10)
    assert second is not None and second > first
    [record] = await backend.leases.lookup(item)
    assert record is not None
    assert (record.item, record.holder, record.token) == (item, "a", first)
    assert 9 < record.ttl <= 10


async def test_release_needs_holder_and_token(backend: Backend) -> None:
    item = unique("item")
    token = await backend.leases.acquire(item, "a:with:colons", ttl=10)
    assert token is not None
    assert await backend.leases.release(item, "b", token) is False
    assert await backend.leases.release(item, "a:with:colons", token + 1) is False
    assert await backend.leases.lookup(item) != [None]
    assert await backend.leases.release(item, "a:with:colons", token) is True
    assert await backend.leases.release(item, "a:with:colons", token) is False
    assert await backend.leases.lookup(item) == [None]
    later = await backend.leases.acquire(item, "b", ttl=10)
    assert later is not None and later > token


async def test_lease_expires_and_a_late_renewal_fails(backend: Backend) -> None:
    item = unique("item")
    token = await backend.leases.acquire(item, "a", ttl=0.15)
    assert token is not None
    await asyncio.sleep(0.3)
    assert await backend.leases.lookup(item) == [None]
    successor = await backend.leases.acquire(item, "b", ttl=10)
    assert successor is not None and successor > token
    # The paused holder wakes up: it can neither extend nor drop its successor's lease.
    assert await backend.leases.renew(item, "a", token, ttl=10) is False
    assert await backend.leases.release(item, "a", token) is False
    [record] = await backend.leases.lookup(item)
    assert record is not None and (record.holder, record.token) == ("b", successor)


async def test_renewal_extends(backend: Backend) -> None:
    item = unique("item")
    token = await backend.leases.acquire(item, "a", ttl=0.3)
    assert token is not None
    for _ in range(4):
        await asyncio.sleep(0.15)
        assert await backend.leases.renew(item, "a", token, ttl=0.3) is True
    [record] = await backend.leases.lookup(item)
    assert record is not None and record.token == token
    assert await backend.leases.renew(item, "b", token, ttl=0.3) is False


async def test_held_lists_live_leases_sorted(backend: Backend) -> None:
    items = sorted(unique("held") for _ in range(3))
    for item in items:
        await backend.leases.acquire(item, "a", ttl=10)
    await backend.leases.acquire(unique("short"), "a", ttl=0.05)
    await asyncio.sleep(0.15)
    held = await backend.leases.held()
    assert [record.item for record in held] == items
    assert await backend.leases.lookup() == []


async def test_instance_registry(backend: Backend) -> None:
    assert await backend.leases.instances() == {}
    await backend.leases.heartbeat("a", ttl=10)
    await backend.leases.heartbeat("b", ttl=0.15)
    live = await backend.leases.instances()
    assert set(live) == {"a", "b"} and 9 < live["a"] <= 10
    await asyncio.sleep(0.3)
    assert set(await backend.leases.instances()) == {"a"}
    await backend.leases.heartbeat("b", ttl=10)
    await backend.leases.leave("a")
    await backend.leases.leave("never-there")
    assert set(await backend.leases.instances()) == {"b"}


async def test_bad_arguments_fail_alike(backend: Backend) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await backend.leases.acquire(unique("item"), "a", ttl=0)
    with pytest.raises(ValueError, match="ttl"):
        await backend.leases.heartbeat("a", ttl=-1)
    with pytest.raises(ValueError, match="instance"):
        await backend.leases.heartbeat("", ttl=1)
