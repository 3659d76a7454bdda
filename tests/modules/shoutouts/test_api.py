"""The shoutouts settings over REST on both stacks: defaults, a change over REST is the next
``!so`` in chat (and a change in chat is what REST reads), the checks chat makes as 422s,
and who may read and change (the permission chat checks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.collectors.twitch.conftest import twitch_settings
from tests.collectors.twitch.fake_twitch import FakeTwitch
from tests.support import LiveServer, bearer, chatter, community_of, live_server, set_role
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.collectors.twitch.module_api import module_twitch
from waddlebot.communities.service import CommunitiesService
from waddlebot.kernel.security.api_keys import create_api_key
from waddlebot.kernel.settings import Settings
from waddlebot.modules.core import module as core
from waddlebot.modules.shoutouts import module as shoutouts
from waddlebot.modules.shoutouts.shoutouts import Found, card
from waddlebot.router.service import RouterService
from waddlebot.sdk.twitch import TwitchClip, TwitchUser

DEFAULT_TEMPLATE = "Go follow {name}, last seen playing {game}: https://twitch.tv/{login}"
DEFAULTS = {
    "template": DEFAULT_TEMPLATE,
    "auto_on_raid": False,
    "raid_min_viewers": 1,
    "card_art": None,
}
PLACEHOLDERS = "{name} {login} {game} {title} {clip}"
ART_REFUSED = (
    "Card art is an uploaded image: media:<name> (PNG, JPEG, GIF or WebP) from the "
    "overlay media library."
)


@pytest.fixture
async def fake_twitch() -> AsyncIterator[FakeTwitch]:
    fake = FakeTwitch()
    async with live_server(fake.app()) as server:
        fake.url = server.url
        yield fake


@asynccontextmanager
async def shoutout_bot(
    settings: Settings, fake: FakeTwitch | None = None
) -> AsyncIterator[LiveServer]:
    twitch = module_twitch(twitch_settings(fake)) if fake is not None else None
    app = create_app(
        settings,
        instances=[
            RouterService(modules=[core, shoutouts], twitch=twitch),
            PlaygroundService(),
            CommunitiesService(),
        ],
    )
    async with live_server(app) as bot:
        yield bot


async def key_for(bot: LiveServer, user_id: str | None) -> dict[str, str]:
    """Headers with a read-write key owned by ``user_id`` (an operator key when None)."""
    key, _ = await create_api_key(
        bot.app.state.runtime.db,
        name=f"key-{user_id}",
        scopes=["communities:read", "communities:write"],
        user_id=user_id,
    )
    return bearer(key)


async def test_rest_changes_are_what_chat_uses_and_back(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    fake_twitch.add_streamer("alice", user_id="5550001", game="Celeste", clips=(("c1", 7, 2),))
    async with shoutout_bot(stack_settings, fake_twitch) as bot:
        community = await community_of(bot)
        url = f"/api/shoutouts/v1/communities/{community}/settings"
        moddy = await chatter(bot, "moddy")
        await set_role(bot, community, moddy, "moderator")
        as_mod = await key_for(bot, moddy)

        async def mod(text: str) -> list[str]:
            return await bot.texts(text, user="moddy", role="moderator")

        read = await bot.client.get(url, headers=as_mod)
        assert read.status_code == 200, read.text
        assert read.json() == DEFAULTS

        changed = await bot.client.patch(
            url, json={"template": "  Check out {name}, playing {game}!  "}, headers=as_mod
        )
        assert changed.status_code == 200, changed.text
        assert changed.json() == {**DEFAULTS, "template": "Check out {name}, playing {game}!"}
        assert await mod("!so alice") == [
            "Check out Alice, playing Celeste! Clip: https://clips.twitch.tv/c1"
        ]

        # chat → REST: the same value
        assert await mod("!shoutouts raids on 5") == [
            "Raiders with at least 5 viewers get a shoutout."
        ]
        assert (await bot.client.get(url, headers=as_mod)).json() == {
            "template": "Check out {name}, playing {game}!",
            "auto_on_raid": True,
            "raid_min_viewers": 5,
            "card_art": None,
        }

        replaced = await bot.client.put(
            url,
            json={"template": "{name}: {clip}", "auto_on_raid": False, "raid_min_viewers": 0},
            headers=as_mod,
        )
        assert replaced.status_code == 200, replaced.text
        assert replaced.json() == {
            "template": "{name}: {clip}",
            "auto_on_raid": False,
            "raid_min_viewers": 0,
            "card_art": None,
        }

        art = await bot.client.patch(url, json={"card_art": " media:banner.png "}, headers=as_mod)
        assert art.status_code == 200 and art.json()["card_art"] == "media:banner.png"
        cleared = await bot.client.patch(url, json={"card_art": None}, headers=as_mod)
        assert cleared.json()["card_art"] is None
        assert await mod("!so alice") == ["Alice: https://clips.twitch.tv/c1"]

        # null restores a default; other fields stay
        reset = await bot.client.patch(url, json={"template": None}, headers=as_mod)
        assert reset.json() == {**DEFAULTS, "raid_min_viewers": 0}
        assert await mod("!so alice") == [
            "Go follow Alice, last seen playing Celeste: https://twitch.tv/alice "
            "Clip: https://clips.twitch.tv/c1"
        ]


async def test_bad_settings_are_422_with_the_reply_chat_gives(stack_settings: Settings) -> None:
    async with shoutout_bot(stack_settings) as bot:
        community = await community_of(bot)
        url = f"/api/shoutouts/v1/communities/{community}/settings"
        operator = await key_for(bot, None)
        refusals: list[tuple[str, dict[str, Any], str | None]] = [
            (
                "patch",
                {"template": "Hi {nam}"},
                f"Unknown placeholder {{nam}}. Use: {PLACEHOLDERS}",
            ),
            (
                "patch",
                {"template": "Hi {name:>9}"},
                f"Unknown placeholder {{name:>9}}. Use: {PLACEHOLDERS}",
            ),
            (
                "patch",
                {"template": "Hi {name"},
                "Unbalanced braces in the template; write {{ and }} for literal ones. "
                f"Placeholders: {PLACEHOLDERS}",
            ),
            ("patch", {"template": "   "}, "A shoutout template cannot be empty."),
            ("patch", {"template": "x" * 401}, "A shoutout template is at most 400 characters."),
            (
                "patch",
                {"raid_min_viewers": -1},
                "The raid minimum is a whole number of viewers, 0 or more.",
            ),
            (
                "put",
                {"template": "ok {name}", "auto_on_raid": True, "raid_min_viewers": -3},
                "The raid minimum is a whole number of viewers, 0 or more.",
            ),
            ("patch", {"card_art": "media:jingle.mp3"}, ART_REFUSED),  # a sound
            ("patch", {"card_art": "https://example.com/a.png"}, ART_REFUSED),
            ("patch", {"card_art": "media:../x.png"}, ART_REFUSED),
            ("put", {"template": "ok {name}"}, None),  # PUT needs all three
            ("patch", {"auto_on_raid": "yes"}, None),
            ("patch", {"raid_min_viewers": 2.5}, None),
            ("patch", {"colour": "red"}, None),
        ]
        for method, body, detail in refusals:
            answer = await bot.client.request(method.upper(), url, json=body, headers=operator)
            assert answer.status_code == 422, (body, answer.text)
            if detail is not None:
                assert answer.json() == {"detail": detail}
        assert (await bot.client.get(url, headers=operator)).json() == DEFAULTS

        # the same sentences in chat
        assert await bot.texts("!shoutouts template Hi {nam}", role="moderator") == [
            f"Unknown placeholder {{nam}}. Use: {PLACEHOLDERS}"
        ]
        assert await bot.texts("!shoutouts raids on -1", role="moderator") == [
            "The raid minimum is a whole number of viewers, 0 or more."
        ]
        missing = await bot.client.get(
            "/api/shoutouts/v1/communities/nope/settings", headers=operator
        )
        assert missing.status_code == 404 and missing.json() == {"detail": "no community 'nope'"}
        assert (
            await bot.client.patch(
                "/api/shoutouts/v1/communities/nope/settings",
                json={"auto_on_raid": True},
                headers=operator,
            )
        ).status_code == 404


async def test_who_may_read_and_change(stack_settings: Settings) -> None:
    async with shoutout_bot(stack_settings) as bot:
        community = await community_of(bot)
        url = f"/api/shoutouts/v1/communities/{community}/settings"
        change = {"auto_on_raid": True}

        assert (await bot.client.get(url)).status_code == 401
        assert (await bot.client.patch(url, json=change)).status_code == 401
        assert (await bot.client.put(url, json=DEFAULTS)).status_code == 401

        member = await chatter(bot, "mia")
        await set_role(bot, community, member, "member")
        as_member = await key_for(bot, member)
        assert (await bot.client.get(url, headers=as_member)).status_code == 200
        refused = await bot.client.patch(url, json=change, headers=as_member)
        assert refused.status_code == 403
        assert refused.json() == {
            "detail": "you need the 'shoutouts.manage' permission in this community"
        }
        assert (await bot.client.put(url, json=DEFAULTS, headers=as_member)).status_code == 403
        stranger = await key_for(bot, await chatter(bot, "sam", channel="elsewhere"))
        assert (await bot.client.get(url, headers=stranger)).status_code == 403

        moddy = await chatter(bot, "moddy")
        await set_role(bot, community, moddy, "moderator")
        as_mod = await key_for(bot, moddy)
        assert (await bot.client.patch(url, json=change, headers=as_mod)).status_code == 200

        # an owner takes shoutouts.manage from moderators: gone in chat and over REST alike
        operator = await key_for(bot, None)
        grants = await bot.client.put(
            f"/api/communities/v1/communities/{community}/roles/moderator",
            json={"permissions": ["calendar.approve", "memories.manage"]},
            headers=operator,
        )
        assert grants.status_code == 200, grants.text
        assert (await bot.client.patch(url, json=change, headers=as_mod)).status_code == 403
        assert await bot.texts("!shoutouts raids off", user="moddy", role="moderator") == [
            "@moddy !shoutouts needs the shoutouts.manage permission here."
        ]
        assert (await bot.client.get(url, headers=as_mod)).json()["auto_on_raid"] is True


def test_the_card_shows_the_communitys_art_when_there_is_no_clip() -> None:
    user = TwitchUser(id="1", login="carol", display_name="Carol")
    assert card(Found(user, None, None), "media:banner.png")["thumbnail"] == "media:banner.png"
    assert "thumbnail" not in card(Found(user, None, None))
    clip = TwitchClip(
        id="c1",
        url="https://clips.twitch.tv/c1",
        embed_url="https://clips.twitch.tv/embed?clip=c1",
        thumbnail_url="https://clips-media/c1.jpg",
        title="Nice",
        view_count=3,
        created_at=datetime.now(UTC),
    )
    assert card(Found(user, None, clip), "media:banner.png")["thumbnail"] == (
        "https://clips-media/c1.jpg"
    )
