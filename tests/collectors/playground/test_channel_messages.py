"""Unsolicited playground messages: a scheduled job posts into the channel it was set up in;
``GET /api/playground/v1/channels/{channel}/messages?after=`` reads them (admin only), on
SQLite + in-memory and PostgreSQL + Redis, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.scheduling_support import announcer_app
from tests.support import LiveServer, bearer, live_server
from waddlebot.collectors.playground.history import ChannelHistory
from waddlebot.collectors.playground.service import PlaygroundSender, replies_channel
from waddlebot.kernel.backends import Backend
from waddlebot.kernel.contracts import OutboundMessage, Platform
from waddlebot.kernel.security.api_keys import ADMIN_SCOPE, create_api_key
from waddlebot.kernel.settings import Settings


def messages_url(channel: str) -> str:
    return f"/api/playground/v1/channels/{channel}/messages"


@pytest.fixture
async def bot(stack_settings: Settings) -> AsyncIterator[LiveServer]:
    async with live_server(announcer_app(stack_settings)) as server:
        yield server


async def read(bot: LiveServer, channel: str, after: int | None = None) -> dict[str, Any]:
    params = {} if after is None else {"after": after}
    answer = await bot.client.get(messages_url(channel), params=params, headers=bot.operator)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def wait_for_messages(bot: LiveServer, channel: str, after: int, count: int) -> list[Any]:
    async with asyncio.timeout(15):
        while True:
            messages: list[Any] = (await read(bot, channel, after))["messages"]
            if len(messages) >= count:
                return messages
            await asyncio.sleep(0.05)


async def test_a_scheduled_job_posts_into_its_channel(bot: LiveServer) -> None:
    start = await read(bot, "lobby")
    assert start == {"channel": "lobby", "cursor": 0, "messages": []}

    assert await bot.texts("!announce 0.2 hello", channel="lobby") == ["scheduled"]
    assert await bot.texts("!announce 0 elsewhere", channel="other") == ["scheduled"]
    [message] = await wait_for_messages(bot, "lobby", 0, 1)
    assert (message["type"], message["text"]) == ("chat", "announcement: hello")
    [other] = await wait_for_messages(bot, "other", 0, 1)
    assert other["text"] == "announcement: elsewhere"

    # the reply to the command went to its waiting request, not into the channel history
    body = await read(bot, "lobby", after=0)
    assert [m["text"] for m in body["messages"]] == ["announcement: hello"]
    assert (await read(bot, "lobby", after=body["cursor"]))["messages"] == []


async def test_history_is_bounded_per_channel(backend: Backend) -> None:
    history = ChannelHistory(backend.kv, limit=3)
    for n in range(5):
        await history.append(outbound(f"m{n}"))
    await history.append(outbound("elsewhere", channel="other"))
    body = await history.read("lobby", after=0)
    assert (body.cursor, [m.text for m in body.messages]) == (5, ["m2", "m3", "m4"])
    # the older ones are deleted, not just hidden
    everything = await ChannelHistory(backend.kv, limit=100).read("lobby", after=None)
    assert [m.cursor for m in everything.messages] == [3, 4, 5]
    assert [m.text for m in (await history.read("lobby", after=4)).messages] == ["m4"]
    assert (await history.read("lobby", after=9)).messages == []
    assert [m.text for m in (await history.read("other", after=None)).messages] == ["elsewhere"]


async def test_a_reply_goes_to_its_waiting_request_else_into_the_history(
    backend: Backend,
) -> None:
    """Whether anyone listens on the event's reply channel decides (any replica's request)."""
    history = ChannelHistory(backend.kv, limit=10)
    sender = PlaygroundSender(backend, history)
    async with backend.pubsub.subscribe(replies_channel("job-x-1")) as waiting:
        await sender.deliver(outbound("for the request"))
        received = await waiting.get(timeout=2)
        assert received is not None
        assert OutboundMessage.model_validate_json(received[1]).text == "for the request"
    assert (await history.read("lobby", after=None)).messages == []
    await sender.deliver(outbound("after it gave up"))  # nobody listens any more
    kept = await history.read("lobby", after=None)
    assert [m.text for m in kept.messages] == ["after it gave up"]


def outbound(text: str, channel: str = "lobby") -> OutboundMessage:
    return OutboundMessage(
        platform=Platform.playground,
        kind="chat",
        server_id="playground",
        channel_id=channel,
        text=text,
        event_id="job-x-1",
    )


async def test_the_messages_endpoint_is_for_operators_only(bot: LiveServer) -> None:
    url = messages_url("lobby")
    assert (await bot.client.get(url)).status_code == 401
    db = bot.app.state.runtime.db
    narrow, _ = await create_api_key(db, name="narrow", scopes=["identity:manage"])
    assert (await bot.client.get(url, headers=bearer(narrow))).status_code == 403
    admin, _ = await create_api_key(db, name="ops", scopes=[ADMIN_SCOPE])
    assert (await bot.client.get(url, headers=bearer(admin))).status_code == 200
    bad = await bot.client.get(url, params={"after": -1}, headers=bot.operator)
    assert bad.status_code == 422


async def test_the_endpoint_is_gone_when_the_playground_is_off(bot: LiveServer) -> None:
    bot.app.state.runtime.settings.playground = "off"
    answer = await bot.client.get(messages_url("lobby"), headers=bot.operator)
    assert answer.status_code == 404


async def test_a_job_survives_a_restart_and_fires_once_on_start(stack_settings: Settings) -> None:
    async with live_server(announcer_app(stack_settings)) as first:
        assert await first.texts("!announce 1.5 after-restart") == ["scheduled"]
    # stopped before the job was due; it comes due while nothing runs
    await asyncio.sleep(2)
    async with live_server(announcer_app(stack_settings)) as second:
        [message] = await wait_for_messages(second, "lobby", 0, 1)
        assert message["text"] == "announcement: after-restart"
        await asyncio.sleep(1)
        assert len((await read(second, "lobby", after=0))["messages"]) == 1
