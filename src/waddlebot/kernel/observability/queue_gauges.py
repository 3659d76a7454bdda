"""Queue depth and oldest-item age, sampled on a clock rather than per take.

Sampling in the worker loop only when a take came back empty left the gauge at its last idle
value (0) under sustained load, exactly when an autoscaler needs it. Two cheap backend reads
per queue per interval (XLEN and the first entry's id on Redis), never per message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from waddlebot.kernel.backends import WorkQueue
from waddlebot.kernel.observability.metrics import QUEUE_DEPTH, QUEUE_OLDEST
from waddlebot.kernel.outages import dependency_of
from waddlebot.kernel.supervision import report_healthy

SAMPLE_EVERY = 1.0  # seconds


class QueueGauges:
    """Keeps ``waddlebot_queue_depth`` and ``waddlebot_queue_oldest_age_seconds`` current."""

    def __init__(
        self, queues: WorkQueue, names: Sequence[str], *, interval: float = SAMPLE_EVERY
    ) -> None:
        self.queues = queues
        self.names = list(names)
        self.interval = interval

    async def sample(self) -> None:
        for name in self.names:
            QUEUE_DEPTH.labels(name).set(await self.queues.depth(name))
            QUEUE_OLDEST.labels(name).set(await self.queues.oldest_age(name))

    async def run(self) -> None:
        """Sample until cancelled. While the backend is away the gauges keep their last values
        and the loop keeps trying (``waddlebot_dependency_up`` tells the outage): a metrics
        sampler never makes the process unready nor adds to the outage's log lines."""
        while True:
            try:
                await self.sample()
            except Exception as error:
                if dependency_of(error) is None:
                    raise  # a bug: the supervisor logs and restarts
            else:
                report_healthy()
            await asyncio.sleep(self.interval)
