"""Collector plumbing shared by every platform: dedupe, pacing, router ingress client."""

from __future__ import annotations

import time

import pytest

from tests.support import IngressOnly, live_server
from waddlebot.app import create_app
from waddlebot.collectors.dedupe import first_delivery, forget_delivery
from waddlebot.collectors.ingress import IngressRefused, RouterIngress
from waddlebot.collectors.pacing import PacingTimeout, hold_until, wait_for_slot, wait_if_held
from waddlebot.kernel.backends import Backend
from waddlebot.kernel.contracts import Event, Platform
from waddlebot.kernel.settings import Settings
from waddlebot.router.worker import EVENTS_QUEUE


async def test_dedupe_first_then_repeats(backend: Backend) -> None:
    assert await first_delivery(backend.kv, "twitch", "m1")
    assert not await first_delivery(backend.kv, "twitch", "m1")
    assert await first_delivery(backend.kv, "slack", "m1")  # per platform
    await forget_delivery(backend.kv, "twitch", "m1")
    assert await first_delivery(backend.kv, "twitch", "m1")


async def test_pacing_waits_for_the_window(backend: Backend) -> None:
    started = time.monotonic()
    for _ in range(3):
        await wait_for_slot(backend.kv, "chan", limit=2, window=0.4)
    assert time.monotonic() - started >= 0.3  # the third waited for the first to leave
    with pytest.raises(PacingTimeout):
        for _ in range(3):
            await wait_for_slot(backend.kv, "other", limit=1, window=30, max_wait=0.2)


async def test_hold_is_shared_through_the_backend(backend: Backend) -> None:
    await hold_until(backend.kv, "route", 0.3)
    started = time.monotonic()
    await wait_if_held(backend.kv, "route")
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    await wait_if_held(backend.kv, "route")
    assert time.monotonic() - started < 0.2


async def test_ingress_client_submits_and_reports_refusals(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"router_queue_max": 2})
    app = create_app(settings, instances=[IngressOnly()])
    async with live_server(app):
        runtime = app.state.runtime
        ingress = RouterIngress(runtime, collector="test", busy_retry_for=0.2)
        events = [
            Event(platform=Platform.twitch, server_id="s", channel_id="c", text=str(n))
            for n in range(2)
        ]
        assert await ingress.submit(events) == [event.id for event in events]
        assert await runtime.backend.queues.depth(EVENTS_QUEUE) == 2
        with pytest.raises(IngressRefused) as refused:
            await ingress.submit(events[:1])
        assert refused.value.status == 429
