"""Behaviour only the in-memory backend has: sweeping, bounded inboxes, waking on close."""

from __future__ import annotations

import asyncio
import time

from waddlebot.kernel.backends.memory import MemoryBackend, MemoryKeyValue, MemoryPubSub


async def test_expired_keys_are_swept_without_being_read() -> None:
    kv = MemoryKeyValue(sweep_interval=0.05)
    for i in range(100):
        await kv.set(f"k{i}", b"v", ttl=0.05)
    await kv.set("keep", b"v")
    await asyncio.sleep(0.1)
    await kv.set("trigger", b"v")  # any write may sweep once the interval has passed
    assert set(kv._data) == {"keep", "trigger"}


async def test_idle_rate_limit_windows_are_swept() -> None:
    kv = MemoryKeyValue(sweep_interval=0.05)
    for i in range(50):
        await kv.hit_rate_limit(f"user-{i}", limit=5, window=0.05)
    await asyncio.sleep(0.1)
    await kv.hit_rate_limit("active", limit=5, window=10)
    assert set(kv._windows) == {"active"}


async def test_sweep_is_not_run_on_every_write() -> None:
    kv = MemoryKeyValue(sweep_interval=60)
    await kv.set("short", b"v", ttl=0.01)
    await asyncio.sleep(0.05)
    await kv.set("other", b"v")
    assert "short" in kv._data  # still stored until read or swept...
    assert await kv.get("short") is None  # ...but never visible
    assert "short" not in kv._data


async def test_close_wakes_blocked_take() -> None:
    backend = MemoryBackend()
    waiter = asyncio.create_task(backend.queues.take("q", "g", "c", block=30))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await backend.close()
    assert await asyncio.wait_for(waiter, timeout=2) == []
    assert time.monotonic() - started < 1


async def test_slow_subscriber_drops_oldest_and_never_blocks_publisher() -> None:
    pubsub = MemoryPubSub(buffer=3)
    async with pubsub.subscribe("ch") as subscription:
        for i in range(10):
            await asyncio.wait_for(pubsub.publish("ch", f"m{i}"), timeout=0.5)
        received = [await subscription.get(timeout=0.1) for _ in range(4)]
    assert received == [("ch", b"m7"), ("ch", b"m8"), ("ch", b"m9"), None]


async def test_backend_close_ends_subscriptions() -> None:
    backend = MemoryBackend()
    async with backend.pubsub.subscribe("ch") as subscription:
        received: list[tuple[str, bytes]] = []

        async def collect() -> None:
            async for message in subscription:
                received.append(message)

        reader = asyncio.create_task(collect())
        await backend.pubsub.publish("ch", b"one")
        await asyncio.sleep(0.05)
        await backend.close()
        await asyncio.wait_for(reader, timeout=2)
        assert received == [("ch", b"one")]
        assert await subscription.get(timeout=0.05) is None


async def test_subscription_leaves_no_trace_after_exit() -> None:
    pubsub = MemoryPubSub()
    async with pubsub.subscribe("a", "b"):
        pass
    assert pubsub._subscribers == {}
