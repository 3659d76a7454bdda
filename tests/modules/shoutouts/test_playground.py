"""Shoutouts off Twitch (the playground stands in for Discord and Slack, which share the
pipeline): a clear answer without Twitch; with Twitch, the line and the clip link, no native
shoutout; the community's template and raid settings from chat."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.collectors.twitch.conftest import twitch_settings
from tests.collectors.twitch.fake_twitch import FakeTwitch
from tests.support import live_server
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.collectors.twitch.module_api import module_twitch
from waddlebot.kernel.settings import Settings
from waddlebot.modules.core import module as core
from waddlebot.modules.shoutouts import module as shoutouts
from waddlebot.router.service import RouterService


@pytest.fixture
async def fake_twitch() -> AsyncIterator[FakeTwitch]:
    fake = FakeTwitch()
    async with live_server(fake.app()) as server:
        fake.url = server.url
        yield fake


async def test_without_twitch_so_says_twitch_must_be_set_up(stack_settings: Settings) -> None:
    app = create_app(
        stack_settings,
        instances=[RouterService(modules=[core, shoutouts]), PlaygroundService()],
    )
    async with live_server(app) as bot:
        assert await bot.texts("!so alice", role="moderator") == [
            "Shoutouts need Twitch to be set up on this bot first."
        ]
        assert await bot.texts("!so alice") == ["@alice !so is for moderators and above."]


async def test_off_twitch_so_posts_the_line_with_the_clip_link(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    fake_twitch.add_streamer("alice", user_id="5550001", game="Celeste", clips=(("c1", 7, 2),))
    fake_twitch.add_streamer("dave", user_id="5550004", title="Chill")  # no clips
    app = create_app(
        stack_settings.model_copy(update={"playground_reply_timeout": 20.0}),
        instances=[
            RouterService(
                modules=[core, shoutouts], twitch=module_twitch(twitch_settings(fake_twitch))
            ),
            PlaygroundService(),
        ],
    )
    async with live_server(app) as bot:

        async def mod(text: str) -> list[str]:
            return await bot.texts(text, user="moddy", role="moderator")

        assert await mod("!shoutout alice") == [
            "Go follow Alice, last seen playing Celeste: https://twitch.tv/alice "
            "Clip: https://clips.twitch.tv/c1"
        ]
        assert fake_twitch.calls("POST", "/helix/chat/shoutouts") == []
        assert await mod("!so dave") == [
            "Go follow Dave, last seen playing something: https://twitch.tv/dave"
        ]

        assert await mod("!shoutouts template Check out {name} ({title}) {clip} {nam}") == [
            "Unknown placeholder {nam}. Use: {name} {login} {game} {title} {clip}"
        ]
        assert await mod("!shoutouts template Hi {name!r}") == [
            "Unknown placeholder {name!r}. Use: {name} {login} {game} {title} {clip}"
        ]
        assert await mod("!shoutouts template Hi {name") == [
            "Unbalanced braces in the template; write {{ and }} for literal ones. "
            "Placeholders: {name} {login} {game} {title} {clip}"
        ]
        assert await mod("!shoutouts template Check out {name} ({title}): {clip}") == [
            "Shoutout template set: Check out {name} ({title}): {clip}"
        ]
        assert await mod("!so dave") == ["Check out Dave (Chill): (no clips yet)"]
        assert await mod("!so alice") == ["Check out Alice (): https://clips.twitch.tv/c1"]
        assert await mod("!shoutouts raids on 5") == [
            "Raiders with at least 5 viewers get a shoutout."
        ]
        assert await mod("!shoutouts") == [
            "Shoutout template: Check out {name} ({title}): {clip} | Raid shoutouts: on "
            "(from 5 viewers). Change with !shoutouts template TEXT|reset, "
            "!shoutouts raids on [MIN-VIEWERS]|off"
        ]
        assert await mod("!shoutouts template reset") == [
            "Shoutout template reset: "
            "Go follow {name}, last seen playing {game}: https://twitch.tv/{login}"
        ]
        assert await bot.texts("!shoutouts template x") == [
            "@alice !shoutouts is for moderators and above."
        ]
