"""Outbound pacing: wait for room in a platform's rate window before sending.

Built on the backend's sliding-window limiter, so limits hold across every sender process
sharing Redis (per channel, per account), not just within one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from waddlebot.kernel.backends import KeyValue, RateWindow
from waddlebot.kernel.observability.metrics import (
    OUTBOUND_RATE_LIMITED,
    PACING_WAIT_SECONDS,
    PACING_WAITS,
    platform_label,
)


class PacingTimeout(Exception):
    """No room in the window within the allowed wait."""


async def wait_for_slot(
    kv: KeyValue, key: str, *, limit: int, window: float, max_wait: float = 60.0
) -> None:
    """Take one slot of ``limit`` per ``window`` seconds under ``key``, waiting if needed."""
    await wait_for_slots(kv, RateWindow(key, limit, window), max_wait=max_wait)


async def wait_for_slots(
    kv: KeyValue,
    *windows: RateWindow,
    max_wait: float = 60.0,
    held: Sequence[str] = (),
) -> None:
    """Take one slot in every window at once (one round trip), waiting until all have room.

    ``held``: keys :func:`hold_until` may have put on hold; a hold is slept out first, in the
    same round trip (no separate :func:`wait_if_held` before the send).
    """
    paced = [RateWindow(f"pace:{w.key}", w.limit, w.window) for w in windows]
    holds = [f"hold:{key}" for key in held]
    key = windows[0].key
    waited = 0.0
    counted: set[str] = set()
    while True:
        decision = await kv.hit_rate_limits(*paced, holds=holds)
        if decision.allowed:
            return
        reason = "hold" if decision.refused_by in holds else "window"
        pause = max(decision.retry_after, 0.01)
        if reason == "window" and waited + pause > max_wait:
            raise PacingTimeout(f"no slot for {key} within {max_wait:g}s")
        if reason not in counted:
            counted.add(reason)
            PACING_WAITS.labels(platform_label(key), reason).inc()
        await asyncio.sleep(pause)
        PACING_WAIT_SECONDS.labels(platform_label(key), reason).inc(pause)
        if reason == "window":
            waited += pause


async def hold_until(kv: KeyValue, key: str, seconds: float, *, rate_limited: bool = True) -> None:
    """Record that the platform asked us to back off ``key`` for ``seconds`` (429/Retry-After).

    ``rate_limited=False``: a hold we take ourselves (a bucket reported empty), not counted
    as the platform limiting us.
    """
    if rate_limited:
        OUTBOUND_RATE_LIMITED.labels(platform_label(key)).inc()
    if seconds > 0:
        await kv.set(f"hold:{key}", "1", ttl=seconds)


async def wait_if_held(kv: KeyValue, key: str) -> None:
    """Sleep out a back-off recorded by :func:`hold_until` (any process may have recorded it)."""
    left = await kv.ttl(f"hold:{key}")
    if left:
        PACING_WAITS.labels(platform_label(key), "hold").inc()
        PACING_WAIT_SECONDS.labels(platform_label(key), "hold").inc(left)
        await asyncio.sleep(left)
