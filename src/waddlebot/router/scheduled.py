"""Scheduled jobs through the normal module path: the job's module executor (in-process or
remote, with its timeout, concurrency slots and circuit breaker), then the ActionDispatcher,
so replies go to the outbound queue of the platform the job was scheduled on."""

from __future__ import annotations

import time
from collections.abc import Mapping

from waddlebot.kernel.backends import KeyValue
from waddlebot.kernel.contracts import (
    Action,
    Event,
    EventType,
    ModuleRequest,
    Platform,
    ScheduledJob,
)
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.metrics import EXECUTION_SECONDS
from waddlebot.kernel.scheduler import Job, JobFailed
from waddlebot.router.dispatch import ActionDispatcher
from waddlebot.router.executors import Executor
from waddlebot.router.registry import CommandTable

logger = get_logger(__name__)


def scheduled_event(job: Job) -> Event:
    """The synthetic event a job runs as: the origin channel, nobody speaking."""
    return Event(
        id=f"job-{job.id}-{job.attempt}",
        type=EventType.scheduled,
        platform=Platform(job.origin.platform),
        server_id=job.origin.server_id,
        channel_id=job.origin.channel_id,
        channel_name=job.origin.channel_name,
        data={"job_id": job.id, "handler": job.handler},
    )


class ScheduledRuns:
    """What the scheduler loop calls for each claimed job; raises JobFailed to retry."""

    def __init__(
        self,
        *,
        executors: Mapping[str, Executor],
        table: CommandTable,
        dispatcher: ActionDispatcher,
        kv: KeyValue,
        module_timeout: float,
    ) -> None:
        self.executors = executors
        self.table = table
        self.dispatcher = dispatcher
        self.kv = kv
        self.module_timeout = module_timeout

    async def __call__(self, job: Job) -> list[Action]:
        executor = self.executors.get(job.module)
        if executor is None:
            raise JobFailed(f"module {job.module!r} is not available")
        event = scheduled_event(job)
        entity_id = job.origin.entity_id or ""
        session = await self.kv.get(f"session:{entity_id}") if entity_id else None
        request = ModuleRequest(
            session_id=session.decode() if session else job.id,
            community_id=job.community_id,
            entity_id=entity_id,
            platform=event.platform,
            raw_text="",
            event=event,
            config=self.table.config(job.community_id, job.module),
            job=ScheduledJob(
                id=job.id,
                handler=job.handler,
                payload=job.payload,
                due_at=job.due_at,
                attempt=job.attempt,
            ),
        )
        started = time.perf_counter()
        status = "ok"
        try:
            response = await executor.execute(request, self.module_timeout)
            if response.error:
                status = "failed"
                raise JobFailed(response.error)
        except JobFailed:
            raise
        except Exception as error:
            status = "failed"
            raise JobFailed(f"{type(error).__name__}: {error}") from None
        finally:
            EXECUTION_SECONDS.labels(job.module, status).observe(time.perf_counter() - started)
        outbound = await self.dispatcher.dispatch(event, job.community_id, response.actions)
        log_event(
            logger,
            Category.SYSTEM,
            "scheduled_job",
            "ran",
            community=job.community_id,
            job=job.id,
            module=job.module,
            handler=job.handler,
            attempt=job.attempt,
            outbound=outbound,
        )
        return list(response.actions)
