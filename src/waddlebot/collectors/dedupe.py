"""Platforms redeliver (retries, at-least-once): remember message ids to process each once."""

from __future__ import annotations

from waddlebot.kernel.backends import KeyValue

DEFAULT_TTL = 24 * 3600.0


async def first_delivery(
    kv: KeyValue, platform: str, message_id: str, *, ttl: float = DEFAULT_TTL
) -> bool:
    """True the first time ``message_id`` is seen within ``ttl`` seconds, False for repeats."""
    return await kv.set(f"dedupe:{platform}:{message_id}", "1", ttl=ttl, only_if_absent=True)


async def forget_delivery(kv: KeyValue, platform: str, message_id: str) -> None:
    """Undo :func:`first_delivery` when the event could not be handed on, so a retry counts."""
    await kv.delete(f"dedupe:{platform}:{message_id}")
