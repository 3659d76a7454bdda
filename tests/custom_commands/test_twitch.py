"""Custom commands on Twitch, end to end on both stacks: signed EventSub chat in, Helix
message out at the fake Twitch; the broadcaster manages, a viewer is refused and uses;
``{uptime}`` follows stream.online / stream.offline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.collectors.twitch.conftest import twitch_settings
from tests.collectors.twitch.fake_twitch import STREAMER, FakeTwitch
from tests.collectors.twitch.twitch_support import (
    authorise_bot,
    chat_event,
    deliver,
    eventually,
    rfc3339,
    subscription,
)
from tests.support import LiveServer, live_server
from waddlebot.app import create_app
from waddlebot.collectors.twitch.service import TwitchService
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.module_data import ModuleDatum
from waddlebot.modules.core import module as core
from waddlebot.modules.custom_commands import module as custom_commands
from waddlebot.router.service import RouterService


@pytest.fixture
async def fake_twitch() -> AsyncIterator[FakeTwitch]:
    fake = FakeTwitch()
    async with live_server(fake.app()) as server:
        fake.url = server.url
        yield fake


def stream(kind: str, started: datetime | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "broadcaster_user_id": STREAMER["id"],
        "broadcaster_user_login": STREAMER["login"],
        "broadcaster_user_name": STREAMER["display_name"],
    }
    if kind == "stream.online":
        event.update(id="9001", type="live", started_at=rfc3339(started))
    return {
        "subscription": subscription(kind, broadcaster_user_id=STREAMER["id"]),
        "event": event,
    }


async def test_custom_commands_on_twitch(stack_settings: Settings, fake_twitch: FakeTwitch) -> None:
    app = create_app(
        stack_settings,
        instances=[
            RouterService(modules=[core, custom_commands]),
            TwitchService(twitch_settings(fake_twitch)),
        ],
    )
    async with live_server(app) as bot:
        await authorise_bot(bot, fake_twitch)
        streamer = dict(STREAMER)

        async def said(text: str, **who: Any) -> str:
            before = len(fake_twitch.chat_texts())
            answer = await deliver(bot.client, chat_event(text, **who))
            assert answer.status_code == 204
            texts = await eventually(lambda: fake_twitch.chat_texts()[before:])
            return str(texts[0])

        assert await said("!command add lurk --cooldown=5 {user} lurks ({count})") == (
            "@viewer32 !command needs the commands.manage permission here."
        )
        assert await said(
            "!command add lurk --role=subscriber {user} lurks ({count}) live {uptime}",
            chatter=streamer,
        ) == ("!lurk added (subscribers and above).")
        assert await said("!lurk") == "@viewer32 !lurk is for subscribers and above."
        assert await said("!lurk", badges=("subscriber",)) == "viewer32 lurks (1) live offline"
        started = datetime.now(UTC) - timedelta(hours=1, minutes=2)
        assert (await deliver(bot.client, stream("stream.online", started))).status_code == 204
        await stream_state_stored(bot, live=True)  # events and chat may be handled in any order
        live = await said("!lurk", badges=("subscriber",))
        assert live.startswith("viewer32 lurks (2) live 1h ")
        assert (await deliver(bot.client, stream("stream.offline"))).status_code == 204
        await stream_state_stored(bot, live=False)
        assert await said("!lurk", badges=("vip",)) == "viewer32 lurks (3) live offline"


async def stream_state_stored(bot: LiveServer, *, live: bool, timeout: float = 10.0) -> None:
    """Wait until the module has recorded the stream going live (or offline)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with bot.app.state.runtime.db.session() as session:
            stored = await session.scalar(
                select(ModuleDatum.key).where(
                    ModuleDatum.module == custom_commands.name, ModuleDatum.key.startswith("live:")
                )
            )
        if (stored is not None) == live:
            return
        assert asyncio.get_running_loop().time() < deadline, f"stream never {live=} in storage"
        await asyncio.sleep(0.02)
