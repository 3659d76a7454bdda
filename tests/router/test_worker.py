"""Delivery guarantees: nothing accepted is lost when a worker dies, nothing is answered twice."""

from __future__ import annotations

import asyncio

from tests.support import build_app, live_server
from waddlebot.kernel.backends import Backend, open_backend
from waddlebot.kernel.contracts import Event, EventOutcome, OutboundMessage, Platform, UserRef
from waddlebot.kernel.contracts.names import (
    EVENTS_GROUP,
    EVENTS_QUEUE,
    outbound_queue,
    outcome_channel,
)
from waddlebot.kernel.settings import Settings


def ping(event_id: str) -> Event:
    return Event(
        id=event_id,
        platform=Platform.twitch,  # no twitch sender runs here: replies stay in its queue
        server_id="s1",
        channel_id="c1",
        user=UserRef(id="u1", name="alice"),
        text="!ping",
    )


async def drained(backend: Backend) -> bool:
    """The router queue empties: an event is acknowledged just after its outcome is
    announced (once its execution row is written), so a test waits for that briefly."""
    for _ in range(100):
        if await backend.queues.depth(EVENTS_QUEUE) == 0:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_event_taken_by_a_dead_worker_is_redelivered_once(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"router_visibility_timeout": 0.5})
    backend = await open_backend(settings.redis_url, namespace=settings.redis_namespace)
    event = ping("dies-mid-flight")
    # A worker takes the event and dies before acknowledging it; then a new router starts.
    await backend.queues.put(EVENTS_QUEUE, [event.model_dump_json().encode()], max_length=10)
    taken = await backend.queues.take(EVENTS_QUEUE, EVENTS_GROUP, "crashing-worker", count=1)
    assert [d.payload for d in taken] == [event.model_dump_json().encode()]
    async with (
        backend.pubsub.subscribe(outcome_channel(event.id)) as outcomes,
        live_server(build_app(settings, backend=backend)),
    ):
        received = await outcomes.get(timeout=10)
        assert received is not None
        outcome = EventOutcome.model_validate_json(received[1])
        assert (outcome.status, outcome.outbound) == ("ok", 1)
        queued = await backend.queues.take(
            outbound_queue("twitch"), "sender", "t", count=10, block=0.1
        )
        assert [OutboundMessage.model_validate_json(d.payload).text for d in queued] == ["pong"]
        assert await drained(backend)
    await backend.close()


async def test_same_event_delivered_twice_is_answered_once(stack_settings: Settings) -> None:
    app = build_app(stack_settings.model_copy(update={"router_visibility_timeout": 0.5}))
    async with live_server(app) as server:
        backend = server.app.state.runtime.backend
        event = ping("sent-twice")
        async with backend.pubsub.subscribe(outcome_channel(event.id)) as outcomes:
            for _ in range(2):
                await backend.queues.put(
                    EVENTS_QUEUE, [event.model_dump_json().encode()], max_length=10
                )
            assert await outcomes.get(timeout=10) is not None
        assert await drained(backend)
        queued = await backend.queues.take(
            outbound_queue("twitch"), "sender", "t", count=10, block=0.1
        )
        assert len(queued) == 1


async def test_unreadable_queue_item_is_dropped_not_fatal(stack_settings: Settings) -> None:
    app = build_app(stack_settings)
    async with live_server(app) as server:
        backend = server.app.state.runtime.backend
        await backend.queues.put(EVENTS_QUEUE, [b"{garbage"], max_length=10)
        assert await server.texts("!ping") == ["pong"]
        assert await drained(backend)


async def test_an_outcome_nobody_waits_for_is_not_published(stack_settings: Settings) -> None:
    async with live_server(build_app(stack_settings)) as server:
        backend = server.app.state.runtime.backend
        quiet = ping("nobody-waits").model_copy(update={"outcome_wanted": False})
        awaited = ping("someone-waits")
        async with backend.pubsub.subscribe(
            outcome_channel(quiet.id), outcome_channel(awaited.id)
        ) as outcomes:
            for event in (quiet, awaited):
                await backend.queues.put(
                    EVENTS_QUEUE, [event.model_dump_json().encode()], max_length=10
                )
            received = await outcomes.get(timeout=10)
            assert received is not None and received[0] == outcome_channel(awaited.id)
            assert await outcomes.get(timeout=0.5) is None
        queued = await backend.queues.take(
            outbound_queue("twitch"), "sender", "t", count=10, block=0.5
        )
        assert sorted(OutboundMessage.model_validate_json(d.payload).event_id for d in queued) == [
            "nobody-waits",
            "someone-waits",
        ]  # both answered all the same


async def test_an_event_waiting_for_its_row_frees_its_slot_only_embedded(
    stack_settings: Settings,
) -> None:
    """One worker slot, and the execution log unable to write. Embedded, events are still
    answered one after another: an answered event gives its slot back and waits for its row
    apart. With Redis the slot is held until the row is written (it paces the pool), so only
    the first is answered meanwhile. Either way nothing is acknowledged before its row."""
    app = build_app(stack_settings.model_copy(update={"router_workers": 1}))
    async with live_server(app) as server:
        backend = server.app.state.runtime.backend
        router = next(s for s in server.app.state.services if s.name == "router")
        events = [ping(f"row-waits-{n}") for n in range(3)]
        expected = 1 if backend.kv.shared else 3
        async with router.executions._lock:  # the writer cannot write while this is held
            async with backend.pubsub.subscribe(*(outcome_channel(e.id) for e in events)) as out:
                for event in events:
                    await backend.queues.put(
                        EVENTS_QUEUE, [event.model_dump_json().encode()], max_length=10
                    )
                announced = set()
                for _ in range(expected):
                    received = await out.get(timeout=10)
                    assert received is not None
                    announced.add(received[0])
                assert await out.get(timeout=0.5) is None  # nothing more while rows wait
            assert len(announced) == expected
            assert await backend.queues.depth(EVENTS_QUEUE) == 3  # none acknowledged yet
        assert await drained(backend)  # the rows are written, then the events acknowledged
