"""Queue gauges are sampled on a clock, so they follow a queue under load (real backends)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from waddlebot.kernel.backends import Backend
from waddlebot.kernel.observability.metrics import REGISTRY
from waddlebot.kernel.observability.queue_gauges import QueueGauges


def gauge(name: str, queue: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"queue": queue})


async def test_depth_and_age_follow_a_busy_queue_without_idle_takes(backend: Backend) -> None:
    queue = f"gauges-{uuid.uuid4().hex[:8]}"
    await backend.queues.put(queue, [b"a", b"b", b"c"], max_length=10)
    # a busy consumer: holds everything it takes, never comes back empty-handed
    held = await backend.queues.take(queue, "g", "busy", count=2, block=0.5)
    assert len(held) == 2
    sampler = asyncio.create_task(QueueGauges(backend.queues, [queue], interval=0.05).run())
    try:
        await asyncio.sleep(0.3)
        assert gauge("waddlebot_queue_depth", queue) == 3
        first_age = gauge("waddlebot_queue_oldest_age_seconds", queue)
        assert first_age is not None and first_age > 0
        await backend.queues.put(queue, [b"d"], max_length=10)
        await asyncio.sleep(0.2)
        assert gauge("waddlebot_queue_depth", queue) == 4
        assert (gauge("waddlebot_queue_oldest_age_seconds", queue) or 0) > first_age
        await backend.queues.ack(queue, "g", *(d.id for d in held))
        rest = await backend.queues.take(queue, "g", "busy", count=5, block=0.5)
        await backend.queues.ack(queue, "g", *(d.id for d in rest))
        await asyncio.sleep(0.2)
        assert gauge("waddlebot_queue_depth", queue) == 0
        assert gauge("waddlebot_queue_oldest_age_seconds", queue) == 0
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
