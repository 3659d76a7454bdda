"""A job scheduled from Twitch chat posts into that Twitch channel later, as a message of its
own (not a threaded reply), through the real router and sender to the fake Helix."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.collectors.twitch.conftest import twitch_settings
from tests.collectors.twitch.fake_twitch import BOT, STREAMER, FakeTwitch
from tests.collectors.twitch.twitch_support import authorise_bot, chat_event, deliver, eventually
from tests.scheduling_support import announcer_app
from tests.support import LiveServer, live_server
from waddlebot.collectors.twitch.service import TwitchService
from waddlebot.kernel.settings import Settings


@pytest.fixture
async def bot(stack_settings: Settings, fake_twitch: FakeTwitch) -> AsyncIterator[LiveServer]:
    twitch = TwitchService(twitch_settings(fake_twitch, reply_in_thread=True))
    async with live_server(announcer_app(stack_settings, twitch)) as server:
        yield server


async def test_a_scheduled_job_posts_into_the_twitch_channel(
    bot: LiveServer, fake_twitch: FakeTwitch
) -> None:
    await authorise_bot(bot, fake_twitch)
    answer = await deliver(bot.client, chat_event("!announce 0.3 raid-soon", message_id="m-1"))
    assert answer.status_code == 204
    await eventually(lambda: len(fake_twitch.chat_texts()) == 2)
    reply, announcement = (r.body for r in fake_twitch.chat)
    assert reply == {
        "broadcaster_id": STREAMER["id"],
        "sender_id": BOT["id"],
        "message": "scheduled",
        "reply_parent_message_id": "m-1",
    }
    assert announcement == {
        "broadcaster_id": STREAMER["id"],
        "sender_id": BOT["id"],
        "message": "announcement: raid-soon",
    }
