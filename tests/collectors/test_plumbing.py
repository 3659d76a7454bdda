"""Collector plumbing shared by every platform: dedupe, pacing, router ingress client."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.support import IngressOnly, build_app, live_server
from waddlebot.app import create_app
from waddlebot.collectors.dedupe import first_delivery, forget_delivery
from waddlebot.collectors.ingress import IngressRefused, RouterIngress
from waddlebot.collectors.pacing import PacingTimeout, hold_until, wait_for_slot, wait_if_held
from waddlebot.collectors.sender import OutboundSender
from waddlebot.kernel.backends import Backend
from waddlebot.kernel.contracts import Event, OutboundMessage, Platform
from waddlebot.kernel.contracts.names import EVENTS_QUEUE, OUTBOUND_GROUP
from waddlebot.kernel.settings import Settings
from waddlebot.router.api import LocalIngress


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


class PathRecorder:
    """ASGI middleware remembering every HTTP path the app served."""

    def __init__(self, app: ASGIApp, paths: list[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


async def test_embedded_collectors_reach_the_router_without_http(
    stack_settings: Settings,
) -> None:
    paths: list[str] = []
    app = build_app(stack_settings)
    app.add_middleware(PathRecorder, paths=paths)
    async with live_server(app) as bot:
        assert await bot.texts("!ping") == ["pong"]
        assert await bot.texts("just chatting") == []
    assert paths.count("/api/playground/v1/messages") == 2
    assert "/api/router/v1/events" not in paths  # handed over in-process, not POSTed to itself


async def test_a_router_url_keeps_the_http_port(stack_settings: Settings) -> None:
    app = create_app(stack_settings, instances=[IngressOnly()])
    async with live_server(app) as server:
        runtime = server.app.state.runtime
        runtime.event_ingress = LocalIngress(runtime)
        assert runtime.local_ingress() is runtime.event_ingress
        runtime.settings = stack_settings.model_copy(update={"router_url": server.url})
        assert runtime.local_ingress() is None


async def test_the_local_port_refuses_as_the_http_route_does(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"router_queue_max": 2})
    app = create_app(settings, instances=[IngressOnly()])
    async with live_server(app):
        runtime = app.state.runtime
        http = RouterIngress(runtime, collector="test", busy_retry_for=0.2)
        runtime.event_ingress = LocalIngress(runtime)
        local = RouterIngress(runtime, collector="test", busy_retry_for=0.2)
        # NUL in the text, a lone surrogate: built without validation, as a buggy collector might
        for text, said in (("a\x00b", "NUL"), ("a\ud800b", "not writable as JSON")):
            bad = Event.model_construct(**{**_event("x").model_dump(), "text": text})
            refusals = []
            for ingress in (local, http):
                runtime.event_ingress = LocalIngress(runtime) if ingress is local else None
                with pytest.raises(IngressRefused) as refused:
                    await ingress.submit([_event("fine"), bad])
                refusals.append((refused.value.status, refused.value.detail))
            assert refusals[0] == refusals[1]
            assert refusals[0][0] == 422 and said in refusals[0][1], refusals
        assert await runtime.backend.queues.depth(EVENTS_QUEUE) == 0  # nothing of the batch
        runtime.event_ingress = LocalIngress(runtime)
        events = [_event(str(n)) for n in range(2)]
        assert await local.submit(events) == [event.id for event in events]
        assert await runtime.backend.queues.depth(EVENTS_QUEUE) == 2
        with pytest.raises(IngressRefused) as busy:
            await local.submit(events[:1])
        assert (busy.value.status, busy.value.detail) == (
            429,
            "the router queue is full; retry shortly",
        )


async def test_events_submitted_together_share_a_post(stack_settings: Settings) -> None:
    paths: list[str] = []
    app = create_app(stack_settings, instances=[IngressOnly()])
    app.add_middleware(PathRecorder, paths=paths)
    async with live_server(app):
        runtime = app.state.runtime  # no router in this process's ingress: HTTP
        ingress = RouterIngress(runtime, collector="test")
        callers = [[_event(f"{n}a"), _event(f"{n}b")] for n in range(60)]

        accepted = await asyncio.gather(*(ingress.submit(events) for events in callers))

        assert accepted == [[event.id for event in events] for events in callers]
        assert await runtime.backend.queues.depth(EVENTS_QUEUE) == 120
    posts = paths.count("/api/router/v1/events")
    # 120 events in batches of at most 100, never splitting a caller's two
    assert posts == 2


async def test_a_bad_event_fails_only_its_own_caller(stack_settings: Settings) -> None:
    app = create_app(stack_settings, instances=[IngressOnly()])
    async with live_server(app):
        runtime = app.state.runtime
        ingress = RouterIngress(runtime, collector="test")
        bad = Event.model_construct(**{**_event("x").model_dump(), "text": "a\x00b"})
        good = [_event(str(n)) for n in range(5)]

        results = await asyncio.gather(
            *(ingress.submit([event]) for event in good[:3]),
            ingress.submit([bad]),
            *(ingress.submit([event]) for event in good[3:]),
            return_exceptions=True,
        )

        assert isinstance(results[3], IngressRefused) and results[3].status == 422
        assert [r for n, r in enumerate(results) if n != 3] == [[event.id] for event in good]
        assert await runtime.backend.queues.depth(EVENTS_QUEUE) == 5


def _event(text: str) -> Event:
    return Event(platform=Platform.twitch, server_id="s", channel_id="c", text=text)


class SlowChannelSender(OutboundSender):
    """Channel "slow" takes 0.3 s per message; every other channel is instant."""

    platform = "playground"

    def __init__(self, backend: Backend) -> None:
        super().__init__(backend)
        self.sent: list[str] = []

    async def deliver(self, message: OutboundMessage) -> None:
        if message.channel_id == "slow":
            await asyncio.sleep(0.3)
        self.sent.append(message.text)


async def test_a_slow_channel_does_not_hold_up_the_others(backend: Backend) -> None:
    sender = SlowChannelSender(backend)

    def message(channel: str, text: str) -> bytes:
        return (
            OutboundMessage(
                platform=Platform.playground,
                kind="chat",
                server_id="s",
                channel_id=channel,
                text=text,
                event_id="e",
            )
            .model_dump_json()
            .encode()
        )

    payloads = [message("slow", "s1"), message("slow", "s2"), message("fast", "f1"), b"{not json"]
    payloads.append(message("fast", "f2"))
    await backend.queues.put(sender.queue, payloads, max_length=100)
    deliveries = await backend.queues.take(sender.queue, OUTBOUND_GROUP, "c", count=10, block=0.1)
    await sender.send_batch(deliveries)
    # the fast lane finished first; within each lane the order is kept
    assert sender.sent == ["f1", "f2", "s1", "s2"]
