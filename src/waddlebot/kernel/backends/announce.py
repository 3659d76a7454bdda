"""Telling every router process that the command table changed.

Whatever changes the commands a chat line can reach (an installed module, a custom command,
an alias, a community's settings, a ``--lines`` timer) calls :func:`commands_changed`: the
version bump is what a router reads per command (so none misses it, pub/sub being
fire-and-forget), the message is what makes the routers reload at once."""

from __future__ import annotations

from collections.abc import AsyncIterator

from waddlebot.kernel.backends.base import KeyValue, PubSub, Subscription
from waddlebot.kernel.contracts.names import COMMANDS_CHANGED, COMMANDS_VERSION


async def commands_changed(kv: KeyValue | None, pubsub: PubSub | None, source: str) -> None:
    """Bump the command-table version, then publish ``source`` on the change channel."""
    if kv is not None:
        await kv.incr(COMMANDS_VERSION)
    if pubsub is not None:
        await pubsub.publish(COMMANDS_CHANGED, source)


async def changes(subscription: Subscription) -> AsyncIterator[None]:
    """Once per burst of announcements: those that arrived while the listener was busy
    reloading are folded into one more reload, not one each (installing 1,000 commands one by
    one was 1,000 reloads of up to 1,000 rows, still running long after the last install)."""
    async for _ in subscription:
        while await subscription.get(timeout=0) is not None:
            pass
        yield
