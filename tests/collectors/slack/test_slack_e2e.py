"""Slack end to end over real HTTP: signed webhooks in → router → module → sender → the fake
Slack Web API, on SQLite + in-memory and PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from tests.collectors.slack.fake_slack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    envelope,
    message,
    signed_headers,
    slash_form,
)
from tests.support import LiveServer, free_port, live_server, testkit
from waddlebot.app import create_app
from waddlebot.collectors.slack.config import SlackSettings
from waddlebot.collectors.slack.models import SlackInstallation
from waddlebot.collectors.slack.service import SlackService
from waddlebot.collectors.slack.workspace import SlackWorkspaces
from waddlebot.kernel.contracts import Role
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH
from waddlebot.kernel.settings import Settings
from waddlebot.modules.core import module as core
from waddlebot.router.service import RouterService


@dataclass
class Stack:
    bot: LiveServer
    slack: FakeSlack

    async def event(self, body: bytes, **headers: str) -> int:
        answer = await self.bot.client.post(
            "/webhooks/slack/events",
            content=body,
            headers={"content-type": "application/json", **signed_headers(body), **headers},
        )
        return answer.status_code


@pytest.fixture
async def stack(stack_settings: Settings) -> AsyncIterator[Stack]:
    slack = FakeSlack(
        users={
            "U061F7AUR": {"id": "U061F7AUR", "name": "viewer", "profile": {"display_name": "V"}},
            "U0OWNER": {"id": "U0OWNER", "name": "owner", "is_owner": True},
            "U0MOD": {"id": "U0MOD", "name": "mod"},
        },
        usergroups=[{"id": "S0MODS", "handle": "mods", "users": ["U0MOD"]}],
    )
    async with live_server(slack.app()) as fake:
        slack.url = fake.url
        settings = SlackSettings(
            signing_secret=SIGNING_SECRET,
            bot_token=BOT_TOKEN,
            api_base=f"{fake.url}/api/",
            user_groups={"mods": Role.moderator},
            client_id="123.456",
            client_secret="shh",
            authorize_url=f"{fake.url}/oauth/v2/authorize",
        )
        app = create_app(
            stack_settings,
            instances=[RouterService(modules=[core, testkit]), SlackService(settings)],
        )
        async with live_server(app) as bot:
            yield Stack(bot=bot, slack=slack)


async def test_url_verification_and_bad_signatures(stack: Stack) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = b'{"token":"x","challenge":"%s","type":"url_verification"}' % challenge.encode()
    answer = await stack.bot.client.post(
        "/webhooks/slack/events", content=body, headers=signed_headers(body)
    )
    assert answer.status_code == 200
    assert answer.json() == {"challenge": challenge}
    body = envelope(message("!ping"), event_id="EvBAD")
    good = signed_headers(body)
    stale = signed_headers(body, timestamp=int(time.time()) - 301)
    for headers, content in (
        (good, body.replace(b"!ping", b"!pong")),
        (signed_headers(body, secret="wrong-secret"), body),
        (stale, body),
        ({}, body),
    ):
        for path in ("/webhooks/slack/events", "/webhooks/slack/commands"):
            answer = await stack.bot.client.post(path, content=content, headers=headers)
            assert answer.status_code == 401, (path, headers)
    await asyncio.sleep(0.2)
    assert stack.slack.of("chat.postMessage") == []


async def test_ping_gets_pong_in_the_channel_or_thread(stack: Stack) -> None:
    assert await stack.event(envelope(message("!ping"), event_id="Ev1")) == 200
    [post] = await stack.slack.wait_for("chat.postMessage")
    assert post.args["channel"] == "C0LAN2Q65" and post.args["text"] == "pong"
    assert "thread_ts" not in post.args
    assert post.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    # the member lookup is cached: a second command does not ask users.info again
    assert await stack.event(envelope(message("!ping", ts="2.0"), event_id="Ev2")) == 200
    await stack.slack.wait_for("chat.postMessage", 2)
    assert len(stack.slack.of("users.info")) == 1
    # a command typed in a thread is answered in that thread
    body = envelope(message("!ping", ts="3.0", thread_ts="1709294000.000100"), event_id="EvT")
    assert await stack.event(body) == 200
    posts = await stack.slack.wait_for("chat.postMessage", 3)
    assert posts[2].args["thread_ts"] == "1709294000.000100"


async def test_retries_and_mention_copies_processed_once_and_paced(stack: Stack) -> None:
    body = envelope(message("!echo once"), event_id="EvR")
    assert await stack.event(body) == 200
    assert (
        await stack.event(
            body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        )
        == 200
    )
    mention = {**message("!echo once <@U0BOT>", ts="5.0"), "type": "app_mention"}
    assert await stack.event(envelope(mention, event_id="EvM1")) == 200
    assert (
        await stack.event(envelope(message("!echo once <@U0BOT>", ts="5.0"), event_id="EvM2"))
        == 200
    )
    first, second = await stack.slack.wait_for("chat.postMessage", 2)
    await asyncio.sleep(0.3)
    assert sorted(p.args["text"] for p in stack.slack.of("chat.postMessage")) == [
        "once",
        "once|&lt;@U0BOT&gt;",
    ]
    assert second.at - first.at >= 0.9  # about one message per second per channel


async def test_bots_and_plain_chat_are_not_answered(stack: Stack) -> None:
    assert await stack.event(envelope(message("!ping", bot_id="B1"), event_id="EvB1")) == 200
    assert await stack.event(envelope(message("!ping", user="U0BOT"), event_id="EvB2")) == 200
    assert await stack.event(envelope(message("good morning"), event_id="EvB3")) == 200
    await asyncio.sleep(0.3)
    assert stack.slack.calls == []


async def test_slash_command_acks_then_answers_through_response_url(stack: Stack) -> None:
    body = slash_form("ping", response_url=f"{stack.slack.url}/hooks/r1")
    answer = await stack.bot.client.post(
        "/webhooks/slack/commands",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded", **signed_headers(body)},
    )
    assert answer.status_code == 200
    assert answer.json()["response_type"] == "ephemeral"
    [hook] = await stack.slack.wait_for("hooks/r1")
    assert hook.args == {"text": "pong", "response_type": "in_channel"}
    assert stack.slack.of("chat.postMessage") == []


async def test_whisper_is_a_direct_message(stack: Stack) -> None:
    assert await stack.event(envelope(message("!whisperme"), event_id="EvW")) == 200
    posts = await stack.slack.wait_for("chat.postMessage", 2)
    [opened] = stack.slack.of("conversations.open")
    assert opened.args["users"] == "U061F7AUR"
    assert sorted((p.args["channel"], p.args["text"]) for p in posts) == [
        ("C0LAN2Q65", "sent you a whisper"),
        ("DU061F7AUR", "psst"),
    ]


async def test_roles_from_workspace_owner_and_user_groups(stack: Stack) -> None:
    for user, event_id in (("U061F7AUR", "EvA"), ("U0OWNER", "EvO"), ("U0MOD", "EvG")):
        assert (
            await stack.event(
                envelope(message("!modonly", user=user, ts=event_id), event_id=event_id)
            )
            == 200
        )
    posts = await stack.slack.wait_for("chat.postMessage", 3)
    assert sorted(p.args["text"] for p in posts) == [
        "@viewer !modonly is for moderators and above.",
        "secret moderator stuff",
        "secret moderator stuff",
    ]


async def test_rate_limited_post_waits_for_retry_after(stack: Stack) -> None:
    stack.slack.throttle["chat.postMessage"] = [1]
    assert await stack.event(envelope(message("!ping"), event_id="Ev429")) == 200
    first, second = await stack.slack.wait_for("chat.postMessage", 2)
    assert second.at - first.at >= 0.9
    assert second.args["text"] == "pong"


async def test_a_revoked_token_shows_in_the_platform_health(stack: Stack) -> None:
    """Slack's auth errors (uninstalled app, revoked token) mark the token invalid in the
    health details; the next successful call marks it valid again."""
    stack.slack.refuse["chat.postMessage"] = "token_revoked"
    assert await stack.event(envelope(message("!ping"), event_id="EvRevoked")) == 200
    await stack.slack.wait_for("chat.postMessage")
    for _ in range(50):
        if PLATFORM_HEALTH.view("slack").token_valid is False:
            break
        await asyncio.sleep(0.05)
    assert PLATFORM_HEALTH.view("slack").token_valid is False
    del stack.slack.refuse["chat.postMessage"]
    assert await stack.event(envelope(message("!ping", ts="9.0"), event_id="EvBack")) == 200
    await stack.slack.wait_for("chat.postMessage", 2)
    for _ in range(50):
        if PLATFORM_HEALTH.view("slack").token_valid:
            break
        await asyncio.sleep(0.05)
    assert PLATFORM_HEALTH.view("slack").token_valid is True


async def test_oauth_install_stores_the_token_encrypted(stack: Stack) -> None:
    client = stack.bot.client
    start = await client.get("/auth/slack/install")
    assert start.status_code == 302
    location = urlsplit(start.headers["location"])
    query = parse_qs(location.query)
    assert location.path == "/oauth/v2/authorize" and query["client_id"] == ["123.456"]
    state = query["state"][0]
    tampered = await client.get(
        "/auth/slack/callback", params={"code": "good-code", "state": state + "x"}
    )
    assert tampered.status_code == 400
    done = await client.get("/auth/slack/callback", params={"code": "good-code", "state": state})
    assert done.status_code == 200, done.text
    assert "Installed &lt;Team&gt;" in done.text
    runtime = stack.bot.app.state.runtime
    async with runtime.db.session() as session:
        row = (await session.scalars(select(SlackInstallation))).one()
    assert row.team_id == "T0INSTALL" and row.bot_user_id == "U0INSTALLED"
    assert "xoxb-installed-token" not in row.token_sealed
    assert runtime.settings.secret_box.decrypt(row.token_sealed) == "xoxb-installed-token"
    [access] = stack.slack.of("oauth.v2.access")
    assert access.args["code"] == "good-code"
    assert access.args["client_id"] == "123.456" and access.args["client_secret"] == "shh"
    # without an env token, the workspace's installed token is the one used
    service = next(s for s in stack.bot.app.state.services if s.name == "slack")
    per_workspace = SlackWorkspaces(
        runtime, service.settings.model_copy(update={"bot_token": None})
    )
    assert await per_workspace.token("T0INSTALL") == "xoxb-installed-token"
    assert await per_workspace.token("T0UNKNOWN") is None


async def test_redis_away_answers_503_with_retry_after_so_slack_redelivers(
    tmp_path: Path,
) -> None:
    settings = Settings(
        data_dir=tmp_path, secret_key="s", redis_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    slack = SlackService(SlackSettings(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN))
    app = create_app(settings, instances=[RouterService(modules=[core]), slack])
    body = envelope(message("!ping"), event_id="Ev0OUTAGE")
    async with live_server(app) as bot:
        answer = await bot.client.post(
            "/webhooks/slack/events",
            content=body,
            headers={"content-type": "application/json", **signed_headers(body)},
        )
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "5"
