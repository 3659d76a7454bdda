"""Waking waiters on the hot path without an ``asyncio.Event`` plus an ``asyncio.timeout``.

Every message wakes a worker blocked on a queue and a reader blocked on a subscription. With
``asyncio.Event`` each wake needs a fresh event (a set event stays set) and each bounded wait a
``Timeout`` context with its own rescheduling; :class:`Wakeup` does the same with one future
and one timer handle per wait.
"""

from __future__ import annotations

import asyncio
import contextlib


class Wakeup:
    """Waiters sleep until the next :meth:`wake` or their own timeout, whichever comes first."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def wake(self) -> None:
        """Wake everyone waiting now (later waiters wait for the next call)."""
        if not self._waiters:
            return
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Return on the next :meth:`wake`, or after ``timeout`` seconds (never raises
        ``TimeoutError``: the caller checks what it was waiting for either way)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiters.append(future)
        timer = None if timeout is None else loop.call_later(timeout, _expire, future)
        try:
            await future
        finally:
            if timer is not None:
                timer.cancel()
            with contextlib.suppress(ValueError):  # woken: it left with the old list
                self._waiters.remove(future)  # timed out or cancelled: a few waiters at most


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
