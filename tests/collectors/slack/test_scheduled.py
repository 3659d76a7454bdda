"""A job scheduled from Slack posts into that channel later with ``chat.postMessage``: not
through the command's ``response_url`` and not into the thread it was typed in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.collectors.slack.fake_slack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    envelope,
    message,
    signed_headers,
    slash_form,
)
from tests.scheduling_support import announcer_app
from tests.support import LiveServer, live_server
from waddlebot.collectors.slack.config import SlackSettings
from waddlebot.collectors.slack.service import SlackService
from waddlebot.kernel.settings import Settings


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(users={"U061F7AUR": {"id": "U061F7AUR", "name": "viewer"}})
    async with live_server(fake.app()) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
async def bot(stack_settings: Settings, slack: FakeSlack) -> AsyncIterator[LiveServer]:
    settings = SlackSettings(
        signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN, api_base=f"{slack.url}/api/"
    )
    async with live_server(announcer_app(stack_settings, SlackService(settings))) as server:
        yield server


async def test_a_job_from_a_slash_command_posts_into_the_channel(
    bot: LiveServer, slack: FakeSlack
) -> None:
    body = slash_form("announce 0.3 standup", response_url=f"{slack.url}/hooks/r1")
    answer = await bot.client.post(
        "/webhooks/slack/commands",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded", **signed_headers(body)},
    )
    assert answer.status_code == 200
    [hook] = await slack.wait_for("hooks/r1")
    assert hook.args["text"] == "scheduled"
    [post] = await slack.wait_for("chat.postMessage")
    assert post.args["channel"] == "C0LAN2Q65"
    assert post.args["text"] == "announcement: standup"
    assert "thread_ts" not in post.args
    assert len(slack.of("hooks/r1")) == 1


async def test_a_job_from_a_thread_posts_into_the_channel_itself(
    bot: LiveServer, slack: FakeSlack
) -> None:
    event = message("!announce 0.3 lunch", thread_ts="1709294000.000100")
    body = envelope(event, event_id="EvThread")
    answer = await bot.client.post(
        "/webhooks/slack/events",
        content=body,
        headers={"content-type": "application/json", **signed_headers(body)},
    )
    assert answer.status_code == 200
    reply, announcement = await slack.wait_for("chat.postMessage", 2)
    assert (reply.args["text"], reply.args["thread_ts"]) == ("scheduled", "1709294000.000100")
    assert announcement.args["text"] == "announcement: lunch"
    assert announcement.args["channel"] == "C0LAN2Q65"
    assert "thread_ts" not in announcement.args
