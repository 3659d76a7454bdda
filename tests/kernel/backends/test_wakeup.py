"""Wakeup: one future and one timer per wait, woken all at once."""

from __future__ import annotations

import asyncio

from waddlebot.kernel.backends.wakeup import Wakeup


async def test_wake_wakes_everyone_waiting_and_only_them() -> None:
    wakeup = Wakeup()
    waiting = [asyncio.create_task(wakeup.wait(5.0)) for _ in range(3)]
    await asyncio.sleep(0)
    wakeup.wake()
    await asyncio.wait_for(asyncio.gather(*waiting), 1.0)
    late = asyncio.create_task(wakeup.wait(5.0))
    await asyncio.sleep(0.05)
    assert not late.done()  # a wake before it began does not count
    wakeup.wake()
    await asyncio.wait_for(late, 1.0)


async def test_a_wait_ends_at_its_timeout_and_leaves_no_waiter_behind() -> None:
    wakeup = Wakeup()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await wakeup.wait(0.05)
    assert 0.04 <= loop.time() - started < 1.0
    cancelled = asyncio.create_task(wakeup.wait(None))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    assert wakeup._waiters == []
