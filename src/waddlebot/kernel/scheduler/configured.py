"""The job store as the installation configures it, built in one place for every user: the
router's scheduler, a portal served alone, module REST routes outside a router."""

from __future__ import annotations

from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.scheduler.store import JobStore


def job_store(runtime: Runtime) -> JobStore:
    """The durable job store with the scheduler settings; it wakes the routers' schedulers
    over pub/sub when a job is due sooner than their next poll."""
    settings = runtime.settings
    return JobStore(
        runtime.db,
        lease=settings.scheduler_lease,
        max_attempts=settings.scheduler_max_attempts,
        retry_delay=settings.scheduler_retry_delay,
        pubsub=runtime.backend.pubsub,
        wake_within=settings.scheduler_poll_interval,
    )
