"""The shape every service has, so ``up`` can mount them all and ``serve`` just one."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import APIRouter

from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.supervision import TaskHealth, run_once, supervise

logger = get_logger(__name__)


class Service(abc.ABC):
    """A named API plus the background work it runs (workers, senders, listeners)."""

    name: str

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        self.health: dict[str, TaskHealth] = {}  # by task name, for /readyz

    def chat_api(self) -> APIRouter | None:
        """The routes carrying chat traffic (webhooks, ingress, the playground), if any.

        The app matches these before every other route: matching walks the routes in order
        on every request, and a few hundred routes ahead cost a message about 0.2 ms.
        """
        return None

    def api(self) -> APIRouter:
        """The service's other HTTP routes (management, OAuth, pages)."""
        return APIRouter()

    def routers(self) -> list[APIRouter]:
        """Every router of the service, chat traffic's first."""
        chat = self.chat_api()
        return [chat, self.api()] if chat is not None else [self.api()]

    async def start(self, runtime: Runtime) -> None:  # noqa: B027 - optional hook
        """Open resources and spawn background tasks (see :meth:`spawn`)."""

    async def stop(self) -> None:
        """Cancel background tasks; subclasses flush their own state first."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def spawn(
        self, name: str, work: Callable[[], Awaitable[None]] | Coroutine[Any, Any, None]
    ) -> None:
        """Run ``work`` for the life of the service, supervised: restarted with backoff
        whenever it raises (see ``kernel/supervision.py``), its state shown by ``/readyz``.

        Pass the function (``loop.run``), not a started coroutine (``loop.run()``): a
        coroutine can run only once, so it is run unsupervised and a crash is only logged.
        """
        full = f"{self.name}:{name}"
        health = self.health[full] = TaskHealth(full)
        if inspect.iscoroutine(work):
            task = asyncio.create_task(run_once(health, work), name=full)
        else:
            assert callable(work)
            task = asyncio.create_task(supervise(health, work), name=full)
        task.add_done_callback(self._report_crash)
        self._tasks.append(task)

    def _report_crash(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log_event(
            logger,
            Category.ERROR,
            "background_task_crashed",
            "error",
            level="error",
            task=task.get_name(),
            exc_info=task.exception(),
        )
