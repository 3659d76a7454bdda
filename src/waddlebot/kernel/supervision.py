"""Keep background work alive through outages: restart it with backoff, log once per outage.

Every long-running task a service spawns (router workers, outbound senders, listeners) runs
under :func:`supervise`: when it raises, it is restarted after a capped, jittered backoff,
forever. One ``background_task_lost`` line is logged when it first fails and one
``background_task_recovered`` line when it works again, never one per attempt. A restarted
task counts as recovered when it calls :func:`report_healthy` (a loop that just did useful
work) or has run ``STABLE_AFTER`` seconds without failing. :class:`TaskHealth` is what
``/readyz`` reads: a task that is not ``running`` makes the process not ready.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.metrics import TASK_RESTARTS
from waddlebot.kernel.outages import Backoff, dependency_of, describe

logger = get_logger(__name__)

STABLE_AFTER = 3.0  # seconds a restarted task must run without failing to count as recovered
DEFAULT_BACKOFF = Backoff(initial=0.2, maximum=5.0)

State = Literal["starting", "running", "recovering", "backoff", "stopped", "dead"]

_current: contextvars.ContextVar[TaskHealth | None] = contextvars.ContextVar(
    "waddlebot_task_health", default=None
)


@dataclass
class TaskHealth:
    """What one supervised task is doing now, for ``/readyz`` and the logs."""

    name: str
    state: State = "starting"
    failures: int = 0  # consecutive failed runs in the current outage
    error: str | None = None  # the last failure, while it lasts
    outage_started: float | None = None
    _run: int = field(default=0, repr=False)

    @property
    def healthy(self) -> bool:
        return self.state in ("starting", "running", "stopped")

    def report(self) -> dict[str, object]:
        answer: dict[str, object] = {"state": self.state}
        if self.failures:
            answer["failures"] = self.failures
        if self.error:
            answer["error"] = self.error
        return answer

    def recovered(self) -> None:
        """The task works again: end the outage (logged once) and count it ready."""
        if self.state == "running":
            return
        if self.state in ("recovering", "backoff") and self.outage_started is not None:
            log_event(
                logger,
                Category.SYSTEM,
                "background_task_recovered",
                "ok",
                task=self.name,
                failures=self.failures,
                down_seconds=round(time.monotonic() - self.outage_started, 3),
            )
        self.state, self.failures, self.error, self.outage_started = "running", 0, None, None


def report_healthy() -> None:
    """Called by a loop after useful work: ends its task's outage at once (cheap, idempotent)."""
    health = _current.get()
    if health is not None and health.state != "running":
        health.recovered()


async def supervise(
    health: TaskHealth,
    work: Callable[[], Awaitable[None]],
    *,
    backoff: Backoff = DEFAULT_BACKOFF,
    stable_after: float = STABLE_AFTER,
) -> None:
    """Run ``work()`` until it returns or is cancelled, restarting it whenever it raises."""
    _current.set(health)  # this task's context, inherited by the tasks work() creates
    loop = asyncio.get_running_loop()
    while True:
        health._run += 1
        run = health._run
        if health.failures:
            health.state = "recovering"
            loop.call_later(stable_after, _stable, health, run)
        else:
            health.state = "running"
        try:
            await work()
        except asyncio.CancelledError:
            health.state = "stopped"
            raise
        except Exception as error:
            health._run += 1  # the stability timer of this run no longer applies
            _failed(health, error)
            await asyncio.sleep(backoff.delay(health.failures))
            continue
        health.state = "stopped"
        return


async def run_once(health: TaskHealth, work: Awaitable[None]) -> None:
    """Run an already created coroutine (it cannot be restarted); a failure leaves it dead."""
    health.state = "running"
    try:
        await work
    except asyncio.CancelledError:
        health.state = "stopped"
        raise
    except Exception as error:
        health.state, health.error = "dead", describe(error)
        raise
    health.state = "stopped"


def _stable(health: TaskHealth, run: int) -> None:
    if health._run == run and health.state == "recovering":
        health.recovered()


def _failed(health: TaskHealth, error: Exception) -> None:
    health.failures += 1
    health.error = describe(error)
    health.state = "backoff"
    TASK_RESTARTS.labels(health.name).inc()
    if health.outage_started is not None:
        return  # still the same outage: it was logged when it began
    health.outage_started = time.monotonic()
    dependency = dependency_of(error)
    log_event(
        logger,
        Category.ERROR,
        "background_task_lost",
        "retrying",
        level="error",
        task=health.name,
        dependency=dependency,
        error=health.error,
        # A dependency outage needs no stack; anything else is a bug and does.
        traceback=None
        if dependency
        else "".join(traceback.format_exception(type(error), error, error.__traceback__)),
    )


async def every(
    interval: float, work: Callable[[], Awaitable[None]], *, action: str, wait_first: bool
) -> None:
    """Run ``work`` every ``interval`` seconds, forever, in a supervised task. A dependency
    outage ends the loop (:func:`supervise` restarts it and logs the outage once); any other
    failure is logged as ``ACTION retrying`` and tried again at the next pass, so a periodic
    chore (counts, roll-ups) never makes the process unready."""
    if wait_first:
        await asyncio.sleep(interval)
    while True:
        try:
            await work()
        except Exception as error:
            if dependency_of(error) is not None:
                raise
            log_event(
                logger,
                Category.ERROR,
                action,
                "retrying",
                level="error",
                error=str(error).splitlines()[0],
            )
        else:
            report_healthy()
        await asyncio.sleep(interval)
