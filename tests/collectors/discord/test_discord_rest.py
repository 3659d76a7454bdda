"""Discord REST rate limits, shared through the backend (in-memory and Redis)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from tests.collectors.discord.fake_discord import BOT_TOKEN, FakeDiscord
from tests.support import live_server
from waddlebot.collectors.discord.config import DiscordSettings
from waddlebot.collectors.discord.rest import DiscordHTTPError, DiscordRest
from waddlebot.kernel.backends import Backend


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    discord = FakeDiscord()
    async with live_server(discord.app()) as server:
        discord.url = server.url
        yield discord


def _rest(backend: Backend, fake: FakeDiscord) -> DiscordRest:
    settings = DiscordSettings(bot_token=BOT_TOKEN, api_base=f"{fake.url}/api/v10")
    return DiscordRest(backend.kv, settings)


async def test_empty_bucket_delays_only_its_route(backend: Backend, fake: FakeDiscord) -> None:
    rest = _rest(backend, fake)
    fake.exhausted = True
    try:
        await rest.request("POST", "/channels/1/messages", route="messages:1", json={})
        started = time.monotonic()
        await rest.request("POST", "/channels/2/messages", route="messages:2", json={})
        assert time.monotonic() - started < 0.5  # another bucket is not held
        await rest.request("POST", "/channels/1/messages", route="messages:1", json={})
        assert time.monotonic() - started >= 0.9  # X-RateLimit-Reset-After: 1.0
    finally:
        await rest.close()


async def test_global_429_holds_every_route(backend: Backend, fake: FakeDiscord) -> None:
    rest = _rest(backend, fake)
    fake.throttle.append({"message": "slow down", "retry_after": 0.6, "global": True})
    try:
        started = time.monotonic()
        await rest.request("POST", "/channels/1/messages", route="messages:1", json={})
        assert time.monotonic() - started >= 0.5
        assert [call.path for call in fake.calls] == ["/channels/1/messages"] * 2
        assert fake.calls[0].headers["user-agent"].startswith("DiscordBot (")
    finally:
        await rest.close()


async def test_errors_are_raised_with_their_status(backend: Backend, fake: FakeDiscord) -> None:
    rest = _rest(backend, fake)
    try:
        with pytest.raises(DiscordHTTPError) as refused:
            await rest.request("GET", "/nowhere", route="x", bot=True)
        assert refused.value.status == 404
    finally:
        await rest.close()
