"""Fixtures: a fake Twitch on loopback and a real WaddleBot (router + twitch) pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from tests.collectors.twitch.fake_eventsub import FakeEventSub
from tests.collectors.twitch.fake_twitch import CLIENT_ID, CLIENT_SECRET, FakeTwitch
from tests.collectors.twitch.twitch_support import SECRET
from tests.support import LiveServer, live_server, testkit
from waddlebot.app import create_app
from waddlebot.collectors.twitch.service import TwitchService
from waddlebot.collectors.twitch.settings import TwitchSettings
from waddlebot.kernel.settings import Settings
from waddlebot.modules.core import module as core
from waddlebot.router.service import RouterService


@pytest.fixture
async def fake_twitch() -> AsyncIterator[FakeTwitch]:
    fake = FakeTwitch()
    async with live_server(fake.app()) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
async def fake_eventsub(fake_twitch: FakeTwitch) -> AsyncIterator[FakeEventSub]:
    """The fake EventSub WebSocket server, its sessions known to the fake Helix."""
    fake = FakeEventSub(keepalive=2)
    async with fake.serving():
        fake_twitch.attach(fake)
        yield fake


def socket_settings(
    fake: FakeTwitch, eventsub: FakeEventSub, transport: str, **overrides: Any
) -> TwitchSettings:
    """Twitch settings for EventSub over the fake WebSocket server (``transport``)."""
    return twitch_settings(
        fake,
        transport=transport,
        eventsub_ws_url=eventsub.url,
        eventsub_keepalive_margin=4.0,  # the fake shares this loop: slack under load
        **overrides,
    )


def twitch_settings(fake: FakeTwitch, **overrides: Any) -> TwitchSettings:
    """Settings pointing every Twitch call at the fake, with short windows and backoffs."""
    values: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "eventsub_secret": SECRET,
        "api_base": f"{fake.url}/helix",
        "auth_base": f"{fake.url}/oauth2",
        "chat_window": 2.0,
        "retry_backoff": 0.01,
        "reconcile_interval": 0,
        **overrides,
    }
    return TwitchSettings(**values)


def twitch_app(settings: Settings, twitch: TwitchSettings) -> FastAPI:
    return create_app(
        settings,
        instances=[RouterService(modules=[core, testkit]), TwitchService(twitch)],
    )


@pytest.fixture
async def edge_bot(tmp_path: Path, fake_twitch: FakeTwitch) -> AsyncIterator[LiveServer]:
    """Embedded only: for checks that stop at the HTTP edge (signatures, challenges)."""
    settings = Settings(data_dir=tmp_path / "edge", secret_key="test-secret", log_format="console")
    async with live_server(twitch_app(settings, twitch_settings(fake_twitch))) as server:
        yield server


@pytest.fixture
async def bot(stack_settings: Settings, fake_twitch: FakeTwitch) -> AsyncIterator[LiveServer]:
    async with live_server(twitch_app(stack_settings, twitch_settings(fake_twitch))) as server:
        yield server
