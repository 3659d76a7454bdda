"""Shoutouts on Twitch, end to end on both stacks: signed EventSub chat (and raids) in,
Helix out at the fake Twitch: the chat line, the overlay card, the native shoutout and its
cooldowns, and clear answers for unknown users, users without clips and Helix 429s."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import structlog
from sqlalchemy import select

from tests.collectors.twitch.conftest import twitch_settings
from tests.collectors.twitch.fake_twitch import BOT, STREAMER, FakeTwitch
from tests.collectors.twitch.twitch_support import (
    authorise_bot,
    chat_event,
    connect_streamer,
    deliver,
    eventually,
    subscription,
)
from tests.support import LiveServer, live_server
from waddlebot.app import create_app
from waddlebot.collectors.twitch.module_api import module_twitch
from waddlebot.collectors.twitch.service import TwitchService
from waddlebot.kernel.backends.base import Subscription
from waddlebot.kernel.contracts.names import overlay_channel
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Entity
from waddlebot.modules.core import module as core
from waddlebot.modules.shoutouts import module as shoutouts
from waddlebot.router.service import RouterService

MODERATOR = {"id": "7001", "login": "moddy", "display_name": "Moddy"}
ALICE_ID = "5550001"


@pytest.fixture
async def fake_twitch() -> AsyncIterator[FakeTwitch]:
    fake = FakeTwitch()
    async with live_server(fake.app()) as server:
        fake.url = server.url
        yield fake


@dataclass
class Stack:
    bot: LiveServer
    fake: FakeTwitch
    overlays: Subscription

    async def said(self, text: str, *, chatter: dict[str, str] = MODERATOR) -> str:
        """What the bot answered in the channel to ``text`` (the first new chat line)."""
        before = len(self.fake.chat_texts())
        answer = await deliver(
            self.bot.client, chat_event(text, chatter=chatter, badges=("moderator",))
        )
        assert answer.status_code == 204
        texts = await eventually(lambda: self.fake.chat_texts()[before:], timeout=5)
        return str(texts[0])

    async def card(self) -> dict[str, Any]:
        received = await self.overlays.get(timeout=5)
        assert received is not None, "no overlay card was published"
        action: dict[str, Any] = json.loads(received[1])
        assert action["kind"] == "general"
        content: dict[str, Any] = action["content"]
        return content


async def _community(bot: LiveServer) -> str:
    """The community of the streamer's channel (created by a first chat message)."""
    deadline = time.monotonic() + 5
    while True:
        async with bot.app.state.runtime.db.session() as session:
            found = await session.scalar(
                select(Entity.community_id).where(Entity.channel_id == STREAMER["id"])
            )
        if found is not None:
            return str(found)
        assert time.monotonic() < deadline, "the channel never got a community"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def twitch_stack(settings: Settings, fake: FakeTwitch) -> AsyncIterator[Stack]:
    """Router (core + shoutouts, Helix for modules) and the Twitch collector at the fake;
    the bot authorised and moderating the streamer's channel."""
    fake.add_streamer(
        "alice",
        user_id=ALICE_ID,
        game="Celeste",
        title="Any% practice",
        clips=(("old-classic", 900, 60), ("fresh", 40, 3), ("fresh-top", 120, 10)),
    )
    app = create_app(
        settings,
        instances=[
            RouterService(modules=[core, shoutouts], twitch=module_twitch(twitch_settings(fake))),
            TwitchService(twitch_settings(fake)),
        ],
    )
    async with live_server(app) as bot:
        await authorise_bot(bot, fake)
        await connect_streamer(bot, bot_is_moderator=True)
        await deliver(bot.client, chat_event("hello"))
        community = await _community(bot)
        pubsub = bot.app.state.runtime.backend.pubsub
        async with pubsub.subscribe(overlay_channel(community)) as overlays:
            yield Stack(bot, fake, overlays)


async def test_so_posts_the_line_shows_the_card_and_sends_one_native_shoutout(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    fake_twitch.add_streamer("bob", user_id="5550002", game="Tetris", clips=(("b1", 5, 1),))
    async with twitch_stack(stack_settings, fake_twitch) as stack:
        assert await stack.said("!so @Alice") == (
            "Go follow Alice, last seen playing Celeste: https://twitch.tv/alice"
        )
        card = await stack.card()
        assert card == {
            "title": "Alice",
            "text": "twitch.tv/alice",
            "subtitle": "Last seen playing Celeste",
            "image": "https://static-cdn.jtvnw.net/user-alice-300x300.png",
            # the most viewed clip of the last 30 days, not the older, bigger one
            "thumbnail": "https://clips-media-assets2.twitch.tv/fresh-top-preview.jpg",
            "caption": "clip fresh-top",
            "url": "https://clips.twitch.tv/fresh-top",
            "embed_url": "https://clips.twitch.tv/embed?clip=fresh-top",
        }
        [native] = stack.fake.shoutouts
        assert native.query == {
            "from_broadcaster_id": STREAMER["id"],
            "to_broadcaster_id": ALICE_ID,
            "moderator_id": BOT["id"],
        }
        assert native.headers["authorization"].startswith("Bearer user-")  # the bot's token

        # within Twitch's 2-minute channel cooldown: the line and card, no Helix call at all
        assert await stack.said("!shoutout bob") == (
            "Go follow Bob, last seen playing Tetris: https://twitch.tv/bob"
        )
        assert (await stack.card())["title"] == "Bob"
        assert len(stack.fake.calls("POST", "/helix/chat/shoutouts")) == 1

        # viewers cannot shout out
        viewer = {"id": "4145994", "login": "viewer32", "display_name": "viewer32"}
        before = len(stack.fake.chat_texts())
        await deliver(stack.bot.client, chat_event("!so alice", chatter=viewer))
        [refused] = await eventually(lambda: stack.fake.chat_texts()[before:], timeout=5)
        assert refused == "@viewer32 !so is for moderators and above."


async def test_unknown_users_users_without_clips_and_helix_trouble_answer_clearly(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    fake_twitch.add_streamer("carol", user_id="5550003")  # no game, no clips
    async with twitch_stack(stack_settings, fake_twitch) as stack:
        assert await stack.said("!so nobody_here") == "There is no Twitch user called nobody_here."
        assert await stack.said("!so not-a-login!") == (
            "not-a-login! is not a Twitch login. Usage: !so TWITCHLOGIN"
        )
        assert await stack.said("!so") == "Usage: !so TWITCHLOGIN"

        clip_calls = len(stack.fake.calls("GET", "/helix/clips"))
        assert await stack.said("!so carol") == (
            "Go follow Carol, last seen playing something: https://twitch.tv/carol"
        )
        card = await stack.card()
        assert "thumbnail" not in card and "url" not in card
        assert card["title"] == "Carol"
        last_month, ever = stack.fake.calls("GET", "/helix/clips")[clip_calls:]
        assert "started_at" in last_month.query and "started_at" not in ever.query

        reset = str(int(time.time()) + 7)
        stack.fake.fail("/helix/users", 429, headers={"Ratelimit-Reset": reset})
        answer = await stack.said("!so alice")
        assert answer.startswith("Twitch is rate limiting me right now; try again in ")

        stack.fake.fail("/helix/channels", 503, times=2)
        assert await stack.said("!so alice") == (
            "Twitch could not look up alice right now; try again later."
        )


async def test_a_refused_native_shoutout_still_posts_the_line(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    async with twitch_stack(stack_settings, fake_twitch) as stack:
        stack.fake.fail("/helix/chat/shoutouts", 400, message="The broadcaster is not live.")
        with structlog.testing.capture_logs() as logs:
            assert await stack.said("!so alice") == (
                "Go follow Alice, last seen playing Celeste: https://twitch.tv/alice"
            )
        assert len(stack.fake.calls("POST", "/helix/chat/shoutouts")) == 1
        assert stack.fake.shoutouts == []
        [refused] = [entry for entry in logs if entry.get("action") == "native_shoutout"]
        assert (refused["result"], refused["status"]) == ("refused", 400)
        assert refused["reason"] == "The broadcaster is not live."
        # refused, so no cooldown was started: the next one is sent
        await stack.said("!so alice")
        assert len(stack.fake.shoutouts) == 1


async def test_twitchs_429_starts_the_channel_cooldown(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    fake_twitch.add_streamer("bob", user_id="5550002")
    async with twitch_stack(stack_settings, fake_twitch) as stack:
        reset = str(int(time.time()) + 90)
        stack.fake.fail("/helix/chat/shoutouts", 429, headers={"Ratelimit-Reset": reset})
        assert await stack.said("!so alice") == (
            "Go follow Alice, last seen playing Celeste: https://twitch.tv/alice"
        )
        assert await stack.said("!so bob") == (
            "Go follow Bob, last seen playing something: https://twitch.tv/bob"
        )
        assert len(stack.fake.calls("POST", "/helix/chat/shoutouts")) == 1  # bob: not asked


def raid(raider: dict[str, str], viewers: int) -> dict[str, Any]:
    return {
        "subscription": subscription("channel.raid", to_broadcaster_user_id=STREAMER["id"]),
        "event": {
            "from_broadcaster_user_id": raider["id"],
            "from_broadcaster_user_login": raider["login"],
            "from_broadcaster_user_name": raider["display_name"],
            "to_broadcaster_user_id": STREAMER["id"],
            "to_broadcaster_user_login": STREAMER["login"],
            "to_broadcaster_user_name": STREAMER["display_name"],
            "viewers": viewers,
        },
    }


async def test_raids_get_an_automatic_shoutout_when_switched_on(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    alice = {"id": ALICE_ID, "login": "alice", "display_name": "Alice"}
    async with twitch_stack(stack_settings, fake_twitch) as stack:
        before = len(stack.fake.chat_texts())
        assert (await deliver(stack.bot.client, raid(alice, 50))).status_code == 204
        await asyncio.sleep(0.5)  # off by default: nothing is said
        assert stack.fake.chat_texts()[before:] == []

        assert await stack.said("!shoutouts raids on 10") == (
            "Raiders with at least 10 viewers get a shoutout."
        )
        before = len(stack.fake.chat_texts())
        assert (await deliver(stack.bot.client, raid(alice, 3))).status_code == 204
        assert (await deliver(stack.bot.client, raid(alice, 42))).status_code == 204
        texts = await eventually(lambda: stack.fake.chat_texts()[before:], timeout=5)
        assert texts == ["Go follow Alice, last seen playing Celeste: https://twitch.tv/alice"]
        assert (await stack.card())["title"] == "Alice"
        [native] = await eventually(lambda: stack.fake.shoutouts, timeout=5)
        assert native.query["to_broadcaster_id"] == ALICE_ID
        await asyncio.sleep(0.3)
        assert len(stack.fake.chat_texts()) == before + 1  # the 3-viewer raid stayed quiet
