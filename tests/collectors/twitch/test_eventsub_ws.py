"""EventSub over a WebSocket (no public URL): a real WaddleBot against the fake EventSub
server and the fake Helix on loopback — welcome, subscriptions on the session with the bot's
token, chat end to end, dedupe, reconnects that lose nothing, silence, revocations, caps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from sqlalchemy import select

from tests.collectors.twitch.conftest import socket_settings, twitch_app
from tests.collectors.twitch.fake_eventsub import FakeEventSub
from tests.collectors.twitch.fake_twitch import BOT, STREAMER, FakeTwitch
from tests.collectors.twitch.twitch_support import (
    authorise_bot,
    chat_event,
    connect_streamer,
    eventually,
    manager_headers,
)
from tests.support import LiveServer, live_server
from waddlebot.collectors.twitch.device_login import request_code, wait_for_tokens
from waddlebot.collectors.twitch.eventsub_ws import ConnectionBudget, TooManyConnections
from waddlebot.collectors.twitch.models import TwitchChannel, TwitchSubscription
from waddlebot.collectors.twitch.service import TwitchService
from waddlebot.collectors.twitch.transports import WEBSOCKET_ITEM
from waddlebot.kernel.coordination.rendezvous import Ring
from waddlebot.kernel.settings import Settings

CREATE = "/helix/eventsub/subscriptions"


@pytest.fixture
async def ws_bot(
    stack_settings: Settings, fake_twitch: FakeTwitch, fake_eventsub: FakeEventSub
) -> AsyncIterator[LiveServer]:
    settings = stack_settings.model_copy(update={"lease_ttl": 3.0, "heartbeat_interval": 0.5})
    twitch = socket_settings(fake_twitch, fake_eventsub, "websocket")
    async with live_server(twitch_app(settings, twitch)) as server:
        yield server


def on_session(fake: FakeTwitch, session_id: str) -> list[dict[str, Any]]:
    return [
        item
        for item in fake.subscriptions.values()
        if item["transport"].get("session_id") == session_id and item["status"] == "enabled"
    ]


async def subscribed(bot: LiveServer, fake: FakeTwitch, eventsub: FakeEventSub) -> str:
    """Authorise the bot, connect the streamer; the session its 10 subscriptions are on."""
    [session] = await eventually(lambda: eventsub.live())
    await authorise_bot(bot, fake)
    await connect_streamer(bot)
    await eventually(lambda: len(on_session(fake, session.id)) == 10)
    return session.id


def chat_subscription(fake: FakeTwitch, session_id: str) -> dict[str, Any]:
    [chat] = [s for s in on_session(fake, session_id) if s["type"] == "channel.chat.message"]
    return chat


async def test_ping_over_the_socket_is_answered_at_helix(
    ws_bot: LiveServer, fake_twitch: FakeTwitch, fake_eventsub: FakeEventSub
) -> None:
    session_id = await subscribed(ws_bot, fake_twitch, fake_eventsub)
    chat = chat_subscription(fake_twitch, session_id)
    await fake_twitch.notify(chat["id"], chat_event("!ping", badges=("moderator",))["event"])
    [sent] = await eventually(lambda: fake_twitch.chat)
    assert sent.body == {
        "broadcaster_id": STREAMER["id"],
        "sender_id": BOT["id"],
        "message": "pong",
    }
    assert await eventually(lambda: fake_twitch.chat_texts()) == ["pong"]


async def test_subscriptions_are_made_on_the_session_with_the_bots_user_token(
    ws_bot: LiveServer, fake_twitch: FakeTwitch, fake_eventsub: FakeEventSub
) -> None:
    session_id = await subscribed(ws_bot, fake_twitch, fake_eventsub)
    creates = [r for r in fake_twitch.calls("POST", CREATE) if r.status == 202]
    assert len(creates) == 10
    for request in creates:
        assert request.body["transport"] == {"method": "websocket", "session_id": session_id}
        assert request.headers["authorization"].startswith("Bearer user-")
    assert fake_eventsub.requested[0].startswith("/ws?keepalive_timeout_seconds=")
    status = (
        await ws_bot.client.get(
            "/api/twitch/v1/channels/streamer", headers=await manager_headers(ws_bot)
        )
    ).json()
    assert status["healthy"] is True


async def test_a_repeated_message_id_is_answered_once(
    ws_bot: LiveServer, fake_twitch: FakeTwitch, fake_eventsub: FakeEventSub
) -> None:
    session_id = await subscribed(ws_bot, fake_twitch, fake_eventsub)
    chat = chat_subscription(fake_twitch, session_id)
    event = chat_event("!ping")["event"]
    await fake_twitch.notify(chat["id"], event, message_id="same-id")
    await fake_twitch.notify(chat["id"], event, message_id="same-id")
    await fake_twitch.notify(chat["id"], chat_event("!echo after")["event"])
    await eventually(lambda: len(fake_twitch.chat_texts()) == 2)
    assert sorted(fake_twitch.chat_texts()) == ["after", "pong"]


async def test_session_reconnect_loses_nothing_and_keeps_the_subscriptions(
    ws_bot: LiveServer, fake_twitch: FakeTwitch, fake_eventsub: FakeEventSub
) -> None:
    session_id = await subscribed(ws_bot, fake_twitch, fake_eventsub)
    chat = chat_subscription(fake_twitch, session_id)
    created = len(fake_twitch.calls("POST", CREATE))
    old_event = chat_event("!echo old")["event"]
    await fake_eventsub.reconnect(session_id, then=[(chat, old_event)])
    session = fake_eventsub.sessions[session_id]
    await eventually(lambda: session.connections == 2)
    await fake_twitch.notify(chat["id"], chat_event("!echo new")["event"])
    await eventually(lambda: len(fake_twitch.chat_texts()) == 2)
    assert sorted(fake_twitch.chat_texts()) == ["new", "old"]
    assert f"/reconnect/{session_id}" in fake_eventsub.requested
    assert len(fake_twitch.calls("POST", CREATE)) == created  # carried over, not recreated
    assert [s.id for s in fake_eventsub.live()] == [session_id]
    assert len(on_session(fake_twitch, session_id)) == 10


async def test_silence_past_the_keepalive_starts_a_fresh_session(
    ws_bot: LiveServer, fake_twitch: FakeTwitch, fake_eventsub: FakeEventSub
) -> None:
    old = await subscribed(ws_bot, fake_twitch, fake_eventsub)
    with structlog.testing.capture_logs() as logs:
        fake_eventsub.silence(old)
        [fresh] = await eventually(
            lambda: [s for s in fake_eventsub.live() if s.id != old], timeout=15
        )
        await eventually(lambda: len(on_session(fake_twitch, fresh.id)) == 10)
    assert any(
        log.get("action") == "twitch_websocket" and log["result"] == "silent" for log in logs
    )
    assert not fake_eventsub.sessions[old].connected
    chat = chat_subscription(fake_twitch, fresh.id)
    await fake_twitch.notify(chat["id"], chat_event("!ping")["event"])
    assert await eventually(lambda: fake_twitch.chat_texts()) == ["pong"]


async def test_revocation_over_the_socket_is_recorded_and_audited(
    ws_bot: LiveServer, fake_twitch: FakeTwitch, fake_eventsub: FakeEventSub
) -> None:
    session_id = await subscribed(ws_bot, fake_twitch, fake_eventsub)
    chat = chat_subscription(fake_twitch, session_id)
    with structlog.testing.capture_logs() as logs:
        await fake_twitch.revoke(chat["id"], "authorization_revoked")
        await eventually(
            lambda: [log for log in logs if log.get("action") == "twitch_subscription_revoked"]
        )
    [audit] = [log for log in logs if log.get("action") == "twitch_subscription_revoked"]
    assert (audit["category"], audit["result"]) == ("AUDIT", "authorization_revoked")
    assert (audit["subscription"], audit["transport"], audit["known"]) == (
        chat["id"],
        "websocket",
        True,
    )
    headers = await manager_headers(ws_bot)
    status = (await ws_bot.client.get("/api/twitch/v1/channels/streamer", headers=headers)).json()
    revoked = next(s for s in status["subscriptions"] if s["type"] == "channel.chat.message")
    assert (revoked["status"], revoked["reason"]) == ("revoked", "authorization_revoked")


async def test_one_session_takes_300_subscriptions_and_the_rest_are_refused_clearly(
    ws_bot: LiveServer, fake_twitch: FakeTwitch, fake_eventsub: FakeEventSub
) -> None:
    [session] = await eventually(lambda: fake_eventsub.live())
    await authorise_bot(ws_bot, fake_twitch)
    async with ws_bot.app.state.runtime.db.session() as db:
        for n in range(31):  # 31 channels x 10 subscriptions
            db.add(TwitchChannel(broadcaster_id=str(900_000 + n), login=f"ch{n}", display_name="c"))
    headers = await manager_headers(ws_bot)
    with structlog.testing.capture_logs() as logs:
        report = (await ws_bot.client.post("/api/twitch/v1/reconcile", headers=headers)).json()
    assert (report["created"], len(report["failed"])) == (300, 10)
    assert len(on_session(fake_twitch, session.id)) == 300
    assert all(r.status != 429 for r in fake_twitch.calls("POST", CREATE))  # never asked past it
    async with ws_bot.app.state.runtime.db.session() as db:
        failed = list(
            await db.scalars(
                select(TwitchSubscription).where(TwitchSubscription.status == "failed")
            )
        )
    assert len(failed) == 10
    assert all("300-subscription cap" in (row.reason or "") for row in failed)
    assert [log["cap"] for log in logs if log.get("result") == "over_cap"] == [300]
    again = (await ws_bot.client.post("/api/twitch/v1/reconcile", headers=headers)).json()
    assert (again["ok"], again["created"], again["deleted"]) == (300, 0, 0)


async def test_the_session_counts_against_the_bots_connection_budget(
    ws_bot: LiveServer, fake_twitch: FakeTwitch, fake_eventsub: FakeEventSub
) -> None:
    await subscribed(ws_bot, fake_twitch, fake_eventsub)
    [service] = [s for s in ws_bot.app.state.services if isinstance(s, TwitchService)]
    budget = service.eventsub.budget  # type: ignore[union-attr]
    assert sum(budget.open.values()) == 1
    budget = ConnectionBudget(3)
    for _ in range(3):
        budget.take(BOT["id"])
    with structlog.testing.capture_logs() as logs, pytest.raises(TooManyConnections):
        budget.take(BOT["id"])
    assert logs[0]["result"] == "too_many_connections" and logs[0]["limit"] == 3
    budget.give(BOT["id"])
    budget.take(BOT["id"])


async def test_a_public_client_logged_in_by_device_code_needs_no_secret_and_no_public_url(
    tmp_path: Path, fake_twitch: FakeTwitch, fake_eventsub: FakeEventSub
) -> None:
    """The home set-up: client id only, ``waddlebot twitch login``'s device grant, WebSocket
    transport; every Helix call goes with the bot's user token, none asks for an app token."""
    settings = Settings(data_dir=tmp_path / "home", secret_key="test-secret", log_format="console")
    twitch = socket_settings(fake_twitch, fake_eventsub, "websocket", client_secret=None)
    async with live_server(twitch_app(settings, twitch)) as bot:
        [service] = [s for s in bot.app.state.services if isinstance(s, TwitchService)]
        assert service.twitch is not None
        code = await request_code(service.twitch.auth)
        await wait_for_tokens(service.twitch.auth, code)
        [session] = await eventually(lambda: fake_eventsub.live())
        await connect_streamer(bot)
        await eventually(lambda: len(on_session(fake_twitch, session.id)) == 10)
        chat = chat_subscription(fake_twitch, session.id)
        await fake_twitch.notify(chat["id"], chat_event("!ping")["event"])
        assert await eventually(lambda: fake_twitch.chat_texts()) == ["pong"]
    grants = [r.body["grant_type"] for r in fake_twitch.calls("POST", "/oauth2/token")]
    assert "client_credentials" not in grants
    helix = [r for r in fake_twitch.requests if r.path.startswith("/helix/")]
    assert helix and all(r.headers["authorization"].startswith("Bearer user-") for r in helix)


def service_of(bot: LiveServer) -> TwitchService:
    [service] = [s for s in bot.app.state.services if isinstance(s, TwitchService)]
    return service


async def test_a_channel_connected_on_another_instance_is_subscribed_by_the_holder(
    stack_settings: Settings, fake_twitch: FakeTwitch, fake_eventsub: FakeEventSub
) -> None:
    """Two instances on one Redis: one holds the session; a channel connected through the
    other is announced on pub/sub and subscribed on the holder's session."""
    if stack_settings.redis_url is None:
        pytest.skip("instances share the session only through Redis")
    base = stack_settings.model_copy(update={"lease_ttl": 2.0, "heartbeat_interval": 0.2})
    twitch = socket_settings(fake_twitch, fake_eventsub, "websocket")
    one = twitch_app(base.model_copy(update={"instance_id": "one"}), twitch)
    two = twitch_app(base.model_copy(update={"instance_id": "two"}), twitch)
    async with live_server(one) as first, live_server(two) as second:
        bots = [first, second]

        def holders() -> list[LiveServer]:
            found = []
            for bot in bots:
                transport = service_of(bot).eventsub
                assert transport is not None
                socket = transport.socket  # type: ignore[union-attr]
                if socket is not None and socket.connection is not None:
                    found.append(bot)
            return found

        leases = first.app.state.runtime.backend.leases
        for _ in range(150):  # both registered: rendezvous hashing names the holder
            if len(await leases.instances()) == 2:
                break
            await asyncio.sleep(0.1)
        owner = Ring(await leases.instances()).owner(WEBSOCKET_ITEM)
        holder, other = (first, second) if owner == "one" else (second, first)
        await eventually(
            lambda: holders() == [holder] and len(fake_eventsub.live()) == 1, timeout=15
        )
        await authorise_bot(other, fake_twitch)
        await connect_streamer(other)  # no session here: announced, made by the holder
        [session] = fake_eventsub.live()
        await eventually(lambda: len(on_session(fake_twitch, session.id)) == 10)
        assert holders() == [holder]
