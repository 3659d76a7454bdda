"""Announcing a command-table change: the version every router reads goes up, and the routers
listening are told who changed it."""

from __future__ import annotations

from waddlebot.kernel.backends import Backend
from waddlebot.kernel.backends.announce import commands_changed
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
