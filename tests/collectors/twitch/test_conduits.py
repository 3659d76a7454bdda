"""EventSub conduits: one conduit for the application, its shards shared out over collector
instances by the kernel coordinator, each shard pointed at its holder's WebSocket session —
against the fake Helix conduit endpoints and the fake EventSub server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.collectors.twitch.conftest import socket_settings, twitch_app
from tests.collectors.twitch.fake_eventsub import FakeEventSub
from tests.collectors.twitch.fake_twitch import FakeTwitch
from tests.collectors.twitch.twitch_support import (
    authorise_bot,
    chat_event,
    connect_streamer,
    eventually,
)
from tests.support import LiveServer, live_server
from waddlebot.collectors.twitch.service import TwitchService
from waddlebot.collectors.twitch.transports import SHARD_PREFIX, ConduitTransport, LeaseGone
from waddlebot.kernel.coordination.coordinator import Lease
from waddlebot.kernel.settings import Settings

SHARDS = "/helix/eventsub/conduits/shards"


@pytest.fixture
async def conduit_bot(
    stack_settings: Settings, fake_twitch: FakeTwitch, fake_eventsub: FakeEventSub
) -> AsyncIterator[LiveServer]:
    settings = stack_settings.model_copy(
        update={"lease_ttl": 2.0, "heartbeat_interval": 0.2, "instance_id": "instance-a"}
    )
    twitch = socket_settings(fake_twitch, fake_eventsub, "conduit", conduit_shards=4)
    async with live_server(twitch_app(settings, twitch)) as server:
        yield server


def transport_of(bot: LiveServer) -> ConduitTransport:
    [service] = [s for s in bot.app.state.services if isinstance(s, TwitchService)]
    assert isinstance(service.eventsub, ConduitTransport)
    return service.eventsub


def shards_at_twitch(fake: FakeTwitch) -> dict[str, dict[str, Any]]:
    [conduit_id] = fake.conduits
    return fake.shards[conduit_id]


def pointed_at_holders(fake: FakeTwitch, *instances: ConduitTransport) -> bool:
    """Every shard enabled at Twitch, on the session of the instance holding its lease."""
    shards = shards_at_twitch(fake)
    held = 0
    for instance in instances:
        for item in instance.coordinator.held:
            socket = instance.sessions.sockets.get(item)
            stored = shards.get(item.removeprefix(SHARD_PREFIX))
            if socket is None or socket.connection is None or stored is None:
                return False
            if stored["status"] != "enabled":
                return False
            if stored["transport"]["session_id"] != socket.connection.session_id:
                return False
            held += 1
    return held == 4


async def chat_on_every_shard(fake: FakeTwitch, subscription_id: str, tag: str) -> list[str]:
    for shard in "0123":
        event = chat_event(f"!echo {tag}{shard}")["event"]
        await fake.notify(subscription_id, event, shard=shard)
    return [f"{tag}{shard}" for shard in "0123"]


async def test_two_instances_split_the_shards_and_one_takes_over_when_the_other_stops(
    conduit_bot: LiveServer, fake_twitch: FakeTwitch, fake_eventsub: FakeEventSub
) -> None:
    a = transport_of(conduit_bot)
    await eventually(lambda: fake_twitch.conduits and pointed_at_holders(fake_twitch, a))
    [conduit] = fake_twitch.conduits.values()
    assert conduit["shard_count"] == 4
    await authorise_bot(conduit_bot, fake_twitch)
    await connect_streamer(conduit_bot)
    creates = [r for r in fake_twitch.calls("POST", "/helix/eventsub/subscriptions")]
    assert len(creates) == 10 and all(r.status == 202 for r in creates)
    for request in creates:
        assert request.body["transport"] == {"method": "conduit", "conduit_id": conduit["id"]}
        assert request.headers["authorization"].startswith("Bearer app-")
    chat = fake_twitch.subscription_for("channel.chat.message", method="conduit")

    runtime = conduit_bot.app.state.runtime
    b = ConduitTransport(a.twitch, runtime, instance_id="instance-b")
    second = asyncio.create_task(b.run())
    try:
        await eventually(
            lambda: (
                a.coordinator.held and b.coordinator.held and pointed_at_holders(fake_twitch, a, b)
            ),
            timeout=20,
        )
        assert set(a.coordinator.held).isdisjoint(b.coordinator.held)
        expected = await chat_on_every_shard(fake_twitch, chat["id"], "split")
        await eventually(lambda: sorted(fake_twitch.chat_texts()) == expected)
        moved = {item.removeprefix(SHARD_PREFIX) for item in b.coordinator.held}
    finally:
        second.cancel()  # instance b stops: its leases are released, its sessions closed
        with contextlib.suppress(asyncio.CancelledError):
            await second
    assert b.coordinator.held == {} and b.sessions.tasks == {}
    await eventually(
        lambda: len(a.coordinator.held) == 4 and pointed_at_holders(fake_twitch, a), timeout=20
    )
    patched = [
        shard["id"] for r in fake_twitch.calls("PATCH", SHARDS) for shard in r.body["shards"]
    ]
    for shard in moved:  # pointed at a's first session, then b's, then a's again
        assert patched.count(shard) >= 3
    again = await chat_on_every_shard(fake_twitch, chat["id"], "after")
    await eventually(lambda: sorted(fake_twitch.chat_texts()) == sorted(expected + again))
    assert len(fake_twitch.conduits) == 1
    assert len(fake_twitch.calls("POST", "/helix/eventsub/conduits")) == 1
    assert len(fake_twitch.calls("POST", "/helix/eventsub/subscriptions")) == 10  # once


async def test_a_shard_is_not_patched_once_its_lease_is_gone(
    conduit_bot: LiveServer, fake_twitch: FakeTwitch, fake_eventsub: FakeEventSub
) -> None:
    a = transport_of(conduit_bot)
    await eventually(lambda: fake_twitch.conduits and pointed_at_holders(fake_twitch, a))
    before = len(fake_twitch.calls("PATCH", SHARDS))
    [session] = fake_eventsub.live()[:1]
    stale = Lease(f"{SHARD_PREFIX}0", "instance-a", token=-1, expires_at=time.time() + 10)
    with pytest.raises(LeaseGone):
        await a.point(stale, "0", session.id)
    assert len(fake_twitch.calls("PATCH", SHARDS)) == before


async def test_an_existing_conduit_is_reused_and_its_shard_count_set(
    stack_settings: Settings, fake_twitch: FakeTwitch, fake_eventsub: FakeEventSub
) -> None:
    fake_twitch.conduits["existing"] = {"id": "existing", "shard_count": 1}
    fake_twitch.shards["existing"] = {}
    twitch = socket_settings(fake_twitch, fake_eventsub, "conduit", conduit_shards=4)
    async with live_server(twitch_app(stack_settings, twitch)) as bot:
        a = transport_of(bot)
        await eventually(lambda: pointed_at_holders(fake_twitch, a))
    assert fake_twitch.conduits == {"existing": {"id": "existing", "shard_count": 4}}
    assert fake_twitch.calls("POST", "/helix/eventsub/conduits") == []
