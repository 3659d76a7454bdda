"""Announcing a command-table change: the version every router reads goes up, and the routers
listening are told who changed it."""

from __future__ import annotations

import asyncio

from waddlebot.kernel.backends import Backend
from waddlebot.kernel.backends.announce import changes, commands_changed
from waddlebot.kernel.contracts.names import COMMANDS_CHANGED, COMMANDS_VERSION


async def test_the_version_goes_up_and_listeners_hear_the_source(backend: Backend) -> None:
    before = int(await backend.kv.get(COMMANDS_VERSION) or 0)
    async with backend.pubsub.subscribe(COMMANDS_CHANGED) as subscription:
        await commands_changed(backend.kv, backend.pubsub, "aliases")
        assert await subscription.get(timeout=5) == (COMMANDS_CHANGED, b"aliases")
    assert int(await backend.kv.get(COMMANDS_VERSION) or 0) == before + 1


async def test_without_a_key_value_store_only_the_message_goes_out(backend: Backend) -> None:
    async with backend.pubsub.subscribe(COMMANDS_CHANGED) as subscription:
        await commands_changed(None, backend.pubsub, "reload")
        assert await subscription.get(timeout=5) == (COMMANDS_CHANGED, b"reload")
    assert await backend.kv.get(COMMANDS_VERSION) is None


async def test_a_burst_of_changes_is_one_reload_more_not_one_each(backend: Backend) -> None:
    """What a router hears while it reloads is folded into its next reload."""
    reloads = 0
    first_heard = asyncio.Event()
    reloading = asyncio.Event()

    async def listen() -> None:
        nonlocal reloads
        async with backend.pubsub.subscribe(COMMANDS_CHANGED) as subscription:
            first_heard.set()
            async for _ in changes(subscription):
                reloads += 1
                reloading.set()
                await asyncio.sleep(0.3)  # a slow reload: the burst arrives meanwhile

    listener = asyncio.create_task(listen())
    try:
        await asyncio.wait_for(first_heard.wait(), 5)
        await commands_changed(backend.kv, backend.pubsub, "first")
        await asyncio.wait_for(reloading.wait(), 5)
        for n in range(50):
            await commands_changed(backend.kv, backend.pubsub, f"burst {n}")
        async with asyncio.timeout(10):
            while reloads < 2:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.8)  # nothing more comes of the burst
        assert reloads == 2
        await commands_changed(backend.kv, backend.pubsub, "later")
        async with asyncio.timeout(10):
            while reloads < 3:  # a change after the burst still reloads
                await asyncio.sleep(0.05)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
