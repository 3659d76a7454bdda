"""A job scheduled by a Discord slash command posts into that channel later as a bot
message, not as a follow-up to the (long gone) interaction."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nacl.signing import SigningKey

from tests.collectors.discord.fake_discord import (
    APPLICATION_ID,
    BOT_TOKEN,
    CHANNEL_ID,
    FakeDiscord,
    command_interaction,
    signed,
)
from tests.scheduling_support import announcer_app
from tests.support import LiveServer, live_server
from waddlebot.collectors.discord.config import DiscordSettings
from waddlebot.collectors.discord.service import DiscordService
from waddlebot.kernel.settings import Settings

KEY = SigningKey.generate()


@pytest.fixture
async def discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    async with live_server(fake.app()) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
async def bot(stack_settings: Settings, discord: FakeDiscord) -> AsyncIterator[LiveServer]:
    settings = DiscordSettings(
        bot_token=BOT_TOKEN,
        application_id=APPLICATION_ID,
        public_key=KEY.verify_key.encode().hex(),
        api_base=f"{discord.url}/api/v10",
    )
    async with live_server(announcer_app(stack_settings, DiscordService(settings))) as server:
        yield server


async def test_a_job_from_a_slash_command_posts_into_the_channel(
    bot: LiveServer, discord: FakeDiscord
) -> None:
    body = command_interaction("announce", args="0.3 movie-night")
    answer = await bot.client.post(
        "/webhooks/discord/interactions", content=body, headers=signed(KEY, body)
    )
    assert answer.status_code == 200
    followups = 0
    if answer.json()["type"] == 5:  # a loaded machine missed the inline wait: a follow-up
        [followup] = await discord.wait_for(f"/webhooks/{APPLICATION_ID}", timeout=10)
        assert followup.body["content"] == "scheduled"
        followups = 1
    else:
        assert answer.json()["data"]["content"] == "scheduled"
    [post] = await discord.wait_for(f"/channels/{CHANNEL_ID}/messages", timeout=10)
    assert post.method == "POST"
    assert post.body["content"] == "announcement: movie-night"
    assert "message_reference" not in post.body
    assert post.headers["authorization"] == f"Bot {BOT_TOKEN}"
    assert len(discord.of(f"/webhooks/{APPLICATION_ID}")) == followups
