"""Slack Socket Mode end to end: a fake Web API hands out the URL of a fake Socket Mode server
on loopback; envelopes go through the real router and modules, replies reach the fake Web API,
on SQLite + in-memory and PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.collectors.slack.fake_slack import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    envelope,
    message,
    signed_headers,
)
from tests.collectors.slack.fake_socket_mode import (
    FakeSocketMode,
    events_api,
    fake_socket_mode,
    interactive,
    slash_command,
)
from tests.support import LiveServer, free_port, live_server, testkit
from waddlebot.app import create_app
from waddlebot.collectors.slack.config import SlackSettings
from waddlebot.collectors.slack.service import SlackService
from waddlebot.kernel.observability.metrics import REGISTRY
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.settings_check import explain
from waddlebot.modules.core import module as core
from waddlebot.router.service import RouterService


@dataclass
class Stack:
    bot: LiveServer
    slack: FakeSlack
    socket: FakeSocketMode


def slack_settings(slack: FakeSlack, **extra: object) -> SlackSettings:
    return SlackSettings(
        app_token=APP_TOKEN,
        bot_token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        api_base=f"{slack.url}/api/",
        socket_ping_interval=0.2,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(users={"U061F7AUR": {"id": "U061F7AUR", "name": "viewer"}})
    async with live_server(fake.app()) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
async def stack(stack_settings: Settings, slack: FakeSlack) -> AsyncIterator[Stack]:
    async with fake_socket_mode() as socket:
        slack.socket_url = socket.url
        app = create_app(
            stack_settings,
            instances=[
                RouterService(modules=[core, testkit]),
                SlackService(slack_settings(slack)),
            ],
        )
        async with live_server(app) as bot:
            await socket.wait_for_connections(1)
            yield Stack(bot=bot, slack=slack, socket=socket)


async def test_ping_over_the_socket_is_acked_and_answered(stack: Stack) -> None:
    [opened] = stack.slack.of("apps.connections.open")
    assert opened.headers["authorization"] == f"Bearer {APP_TOKEN}"
    await stack.socket.send(events_api("env-1", message("!ping"), event_id="Ev1"))
    assert await stack.socket.ack_of("env-1") == {"envelope_id": "env-1"}
    [post] = await stack.slack.wait_for("chat.postMessage")
    assert (post.args["channel"], post.args["text"]) == ("C0LAN2Q65", "pong")
    assert post.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert PLATFORM_HEALTH.view("slack").connection == "socket mode"
    # plain chat is acknowledged and left alone; the webhooks keep working next to the socket
    await stack.socket.send(events_api("env-2", message("good morning"), event_id="Ev2"))
    assert await stack.socket.ack_of("env-2") == {"envelope_id": "env-2"}
    body = envelope(message("!echo http", ts="9.0"), event_id="EvHttp")
    answer = await stack.bot.client.post(
        "/webhooks/slack/events",
        content=body,
        headers={"content-type": "application/json", **signed_headers(body)},
    )
    assert answer.status_code == 200
    posts = await stack.slack.wait_for("chat.postMessage", 2)
    assert [p.args["text"] for p in posts] == ["pong", "http"]


async def test_slash_command_ack_carries_the_ephemeral_line_then_response_url(
    stack: Stack,
) -> None:
    hook = f"{stack.slack.url}/hooks/r1"
    await stack.socket.send(slash_command("env-s", "ping", response_url=hook, trigger="t-s"))
    ack = await stack.socket.ack_of("env-s")
    assert ack == {
        "envelope_id": "env-s",
        "payload": {"response_type": "ephemeral", "text": "Running `!ping`…"},
    }
    [answer] = await stack.slack.wait_for("hooks/r1")
    assert answer.args == {"text": "pong", "response_type": "in_channel"}
    assert stack.slack.of("chat.postMessage") == []


async def test_a_redelivered_envelope_is_acked_and_processed_once(stack: Stack) -> None:
    event = message("!echo once")
    await stack.socket.send(events_api("env-a", event, event_id="EvDup"))
    await stack.socket.send(events_api("env-b", event, event_id="EvDup", retry=1))
    assert await stack.socket.ack_of("env-a") == {"envelope_id": "env-a"}
    assert await stack.socket.ack_of("env-b") == {"envelope_id": "env-b"}
    await stack.slack.wait_for("chat.postMessage")
    await asyncio.sleep(0.5)
    assert [p.args["text"] for p in stack.slack.of("chat.postMessage")] == ["once"]


async def test_interactive_envelopes_are_acked(stack: Stack) -> None:
    await stack.socket.send(interactive("env-i"))
    assert await stack.socket.ack_of("env-i") == {"envelope_id": "env-i"}
    await asyncio.sleep(0.2)
    assert stack.slack.of("chat.postMessage") == []


async def test_disconnect_refresh_requested_reconnects_with_a_new_url(stack: Stack) -> None:
    await stack.socket.disconnect("refresh_requested")
    await stack.socket.wait_for_connections(2)
    assert len(stack.slack.of("apps.connections.open")) == 2
    await stack.socket.send(events_api("env-r", message("!ping"), event_id="EvAfter"))
    assert await stack.socket.ack_of("env-r") == {"envelope_id": "env-r"}
    [post] = await stack.slack.wait_for("chat.postMessage")
    assert post.args["text"] == "pong"
    await asyncio.sleep(0.5)  # the old connection is closed, not left to serve as well
    assert stack.socket.connections[0].state.name == "CLOSED"


async def test_two_instances_each_hold_a_socket_and_share_the_dedupe(
    stack_settings: Settings, slack: FakeSlack
) -> None:
    if stack_settings.redis_url is None:
        pytest.skip("instances share the dedupe through Redis")
    async with fake_socket_mode() as socket:
        slack.socket_url = socket.url
        apps = [
            create_app(
                stack_settings,
                instances=[RouterService(modules=[core]), SlackService(slack_settings(slack))],
            )
            for _ in range(2)
        ]
        async with live_server(apps[0]), live_server(apps[1]):
            first, second = (await socket.wait_for_open(2))[-2:]
            event = message("!ping")
            await socket.send(events_api("env-1", event, event_id="EvTwo"), connection=first)
            await socket.send(
                events_api("env-2", event, event_id="EvTwo", retry=1), connection=second
            )
            assert await socket.ack_of("env-1") == {"envelope_id": "env-1"}
            assert await socket.ack_of("env-2") == {"envelope_id": "env-2"}
            await socket.send(
                events_api("env-3", message("!ping", ts="7.0"), event_id="EvOther"),
                connection=second,
            )
            await slack.wait_for("chat.postMessage", 2)
            await asyncio.sleep(0.5)
    assert len(slack.of("chat.postMessage")) == 2


async def test_an_envelope_that_cannot_be_queued_is_not_acked(
    tmp_path: Path, slack: FakeSlack
) -> None:
    settings = Settings(
        data_dir=tmp_path, secret_key="s", redis_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    refused = {"endpoint": "socket_events", "result": "refused"}
    before = REGISTRY.get_sample_value("waddlebot_slack_requests_total", refused) or 0.0
    async with fake_socket_mode() as socket:
        slack.socket_url = socket.url
        service = SlackService(slack_settings(slack))
        app = create_app(settings, instances=[RouterService(modules=[core]), service])
        async with live_server(app):
            await socket.wait_for_connections(1)
            await socket.send(events_api("env-x", message("!ping"), event_id="EvOutage"))
            await asyncio.sleep(1.0)
    assert socket.acks == []  # Slack redelivers it once the cache is back
    assert REGISTRY.get_sample_value("waddlebot_slack_requests_total", refused) == before + 1


async def test_a_refused_app_token_shows_in_readyz(tmp_path: Path, slack: FakeSlack) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="s")
    slack.app_token = "xapp-the-right-one"
    service = SlackService(slack_settings(slack))
    app = create_app(settings, instances=[RouterService(modules=[core]), service])
    async with live_server(app) as bot:
        failing = (await wait_ready(bot, 503))["failing"]["slack:socket"]
    assert "apps.connections.open: invalid_auth" in failing["error"]


async def test_a_lost_socket_restarts_the_task_and_readyz_follows(
    tmp_path: Path, slack: FakeSlack
) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="s")
    service = SlackService(slack_settings(slack, socket_timeout=0.6))
    app = create_app(settings, instances=[RouterService(modules=[core]), service])
    async with AsyncExitStack() as first_slack:
        socket = await first_slack.enter_async_context(fake_socket_mode())
        slack.socket_url = socket.url
        async with live_server(app) as bot:
            await socket.wait_for_connections(1)
            await wait_ready(bot, 200)
            await first_slack.aclose()  # Slack goes away, the bot stays
            # the client retries on its own, then the task gives up and restarts
            failing = (await wait_ready(bot, 503))["failing"]["slack:socket"]
            assert "no Slack Socket Mode connection" in failing["error"]
            async with fake_socket_mode() as socket:
                slack.socket_url = socket.url
                await socket.wait_for_connections(1)
                await wait_ready(bot, 200)
                await socket.send(events_api("env-back", message("!ping"), event_id="EvBack"))
                assert await socket.ack_of("env-back") == {"envelope_id": "env-back"}
                await slack.wait_for("chat.postMessage")


async def wait_ready(bot: LiveServer, status: int, timeout: float = 15.0) -> dict[str, Any]:
    """``/readyz`` once it answers ``status``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        ready = await bot.client.get("/readyz")
        if ready.status_code == status:
            body: dict[str, Any] = ready.json()
            return body
        assert asyncio.get_running_loop().time() < deadline, ready.text
        await asyncio.sleep(0.05)


def test_an_app_token_must_be_an_xapp_token() -> None:
    with pytest.raises(Exception) as caught:
        SlackSettings(app_token="xoxb-not-an-app-token")
    [line] = explain(caught.value).lines  # type: ignore[arg-type]
    assert line.startswith("WADDLEBOT_SLACK_APP_TOKEN is invalid: an app-level token starts")
    assert "xoxb-not" not in line
    assert SlackSettings(app_token="").app_token is None
