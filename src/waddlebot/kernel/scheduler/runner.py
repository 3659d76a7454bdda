"""The loop every router process runs: claim due jobs, run them, settle them.

It sleeps until the earliest due time or lease expiry it knows of (at most
``poll_interval``), and wakes early when any process schedules a job due before then (a
message on :data:`~waddlebot.kernel.scheduler.store.WAKE_CHANNEL`). So an idle installation
asks the database once per poll interval, while a job due in two seconds fires on time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from waddlebot.kernel.backends import PubSub
from waddlebot.kernel.contracts import Action
from waddlebot.kernel.ids import new_id
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.outages import dependency_of
from waddlebot.kernel.scheduler.models import DONE
from waddlebot.kernel.scheduler.store import WAKE_CHANNEL, Job, JobStore

logger = get_logger(__name__)

MIN_SLEEP = 0.05  # never spin: a due job another process is claiming right now settles soon

RunJob = Callable[[Job], Awaitable[list[Action]]]


class JobFailed(Exception):
    """A run did not succeed (module error, timeout, unavailable): retry or give up."""


@dataclass(slots=True)
class JobResult:
    """One run: its job, how it ended (``done``/``pending`` for a retry/``failed``) and the
    actions it produced."""

    job: Job
    status: str
    actions: list[Action] = field(default_factory=list)
    error: str | None = None


class Scheduler:
    """Claims and runs due jobs of :class:`JobStore` with ``run``, ``batch`` at a time."""

    def __init__(
        self,
        store: JobStore,
        run: RunJob,
        *,
        pubsub: PubSub | None,
        poll_interval: float,
        batch: int = 20,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.run = run
        self.pubsub = pubsub
        self.poll_interval = poll_interval
        self.batch = batch
        self.owner = owner or new_id()
        self._wake = asyncio.Event()

    async def tick(self) -> tuple[list[JobResult], int]:
        """Claim one batch and run it; (results, rows settled without running)."""
        jobs, settled = await self.store.claim(self.owner, self.batch)
        results = await asyncio.gather(*(self._run_one(job) for job in jobs))
        return list(results), settled

    async def run_due(self, max_rounds: int = 100) -> list[JobResult]:
        """Run every job due now (and retries that come due meanwhile), bounded in rounds."""
        results: list[JobResult] = []
        for _ in range(max_rounds):
            ran, settled = await self.tick()
            results.extend(ran)
            if not ran and not settled:
                break
        return results

    async def _run_one(self, job: Job) -> JobResult:
        try:
            actions = await self.run(job)
        except Exception as error:
            detail = str(error)
            if not isinstance(error, JobFailed):
                detail = f"{type(error).__name__}: {error}"
            status = await self.store.failed(job, detail)
            return JobResult(job, status, error=detail)
        await self.store.complete(job)
        return JobResult(job, DONE, actions=actions)

    async def run_forever(self) -> None:
        """The background loop; a failing database is logged and retried after a poll."""
        listener = asyncio.create_task(self._listen()) if self.pubsub is not None else None
        try:
            while True:
                self._wake.clear()
                delay = self.poll_interval
                try:
                    ran, settled = await self.tick()
                    if len(ran) + settled >= self.batch:
                        continue  # more may be due right now
                    upcoming = await self.store.next_wake()
                    if upcoming is not None:
                        until = (upcoming - self.store.now()).total_seconds()
                        delay = min(self.poll_interval, max(until, MIN_SLEEP))
                except Exception as error:
                    if dependency_of(error) is not None:
                        raise  # an outage: the supervisor logs it once and backs off
                    delay = min(self.poll_interval, 1.0)
                    log_event(
                        logger,
                        Category.ERROR,
                        "scheduler_tick",
                        "error",
                        level="error",
                        detail=f"{type(error).__name__}: {error}",
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await listener

    async def _listen(self) -> None:
        assert self.pubsub is not None
        async with self.pubsub.subscribe(WAKE_CHANNEL) as subscription:
            async for _ in subscription:
                self._wake.set()
