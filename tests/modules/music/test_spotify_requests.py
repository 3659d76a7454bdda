"""Spotify song requests end to end through the playground pipeline, against the fake
Spotify: the community switches to Spotify over REST, ``!sr`` adds to Spotify's queue and
ours, the poller moves our queue on when Spotify plays the request (``!song`` and the
``media`` overlay name the requester), ``!skip`` skips on the player, ``!wrongsong`` takes a
request out of our queue only, and Spotify's refusals are the chat answers."""

from __future__ import annotations

from typing import Any

from tests.modules.calendar.helpers import call, key_with_role
from tests.modules.music.spotify_fake import (
    ICEBERG,
    PENGUIN,
    FakeSpotify,
    connect,
    fake_spotify,
    spotify_settings,
)
from tests.modules.music.test_spotify_poller import tick
from waddlebot.kernel.settings import Settings
from waddlebot.modules.music import module as music
from waddlebot.sdk.testing import ModuleHarness

API = "/api/music/v1"
MOD = {"user": "mod", "role": "moderator"}
PREMIUM = (
    "Spotify Premium is required to queue or skip songs; the broadcaster's account does not "
    "have it."
)
NO_DEVICE = (
    "Spotify has no active device: start playing something on Spotify first, then try again."
)


async def on_spotify(bot: ModuleHarness, fake: FakeSpotify) -> dict[str, str]:
    """Connect the community's Spotify and make it the song-request provider over REST; the
    headers of a member's API key."""
    assert (await connect(bot, fake)).status_code == 200
    community = await bot.community_id()
    moderator = await key_with_role(bot, "mod", "moderator")
    path = f"{API}/communities/{community}/settings"
    changed = await call(bot, "PATCH", path, moderator, json={"provider": "spotify"})
    assert changed.status_code == 200 and changed.json()["provider"] == "spotify", changed.text
    return await key_with_role(bot, "bob", "member")


def link(item: dict[str, Any]) -> str:
    return f"https://open.spotify.com/track/{item['id']}"


async def test_requests_play_on_spotify_and_the_queue_follows(stack_settings: Settings) -> None:
    stack = {
        key: value
        for key, value in stack_settings.model_dump().items()
        if key in ("database_url", "redis_url", "redis_namespace") and value is not None
    }
    async with (
        fake_spotify() as fake,
        ModuleHarness(music, **spotify_settings(fake), **stack) as bot,
    ):
        member = await on_spotify(bot, fake)
        playing_path = f"{API}/communities/{await bot.community_id()}/playing"
        fake.play(ICEBERG, 0)  # the broadcaster's own music plays
        assert await bot.reply("!sr penguin dance") == (
            "Queued “Penguin Dance” by The Waddlers (3:00) at #1 in the queue."
        )
        assert fake.queue == [f"spotify:track:{PENGUIN['id']}"]
        assert "POST /v1/me/player/queue" in fake.api_calls
        assert await bot.reply("!queue") == "Next: 1. “Penguin Dance” by The Waddlers (alice)"
        assert await bot.reply("!song") == (
            f"Now playing “Iceberg Blues” by Cold Feet on Spotify (not a request): {link(ICEBERG)}"
        )
        cards = await tick(bot, 0)  # the poller !sr started
        assert [(c["title"], c["requested_by"]) for c in cards] == [("Iceberg Blues", "")]

        fake.queue.pop(0)
        fake.play(PENGUIN, 1_000)  # Spotify reached the request
        cards = await tick(bot, 15)
        assert [(c["title"], c["requested_by"]) for c in cards] == [("Penguin Dance", "alice")]
        assert await bot.reply("!song", user="bob") == (
            f"Now playing “Penguin Dance” by The Waddlers, requested by alice: {link(PENGUIN)}"
        )
        assert await bot.reply("!queue") == "The queue is empty. Request a song with !sr SONG."
        now = await call(bot, "GET", playing_path, member)  # REST builds the provider too
        assert now.status_code == 200, now.text
        assert {k: now.json()[k] for k in ("provider", "title", "requester_name")} == {
            "provider": "spotify",
            "title": "Penguin Dance",
            "requester_name": "alice",
        }

        assert await bot.reply(f"!sr {link(ICEBERG)}", user="bob") == (
            "Queued “Iceberg Blues” by Cold Feet (4:00) at #1 in the queue."
        )
        assert await bot.reply("!skip", **MOD) == (
            "Skipped “Penguin Dance” by The Waddlers. Now playing “Iceberg Blues” by Cold "
            "Feet, requested by bob."
        )
        assert fake.skips == 1 and "POST /v1/me/player/next" in fake.api_calls
        assert await bot.reply("!song") == (
            f"Now playing “Iceberg Blues” by Cold Feet, requested by bob: {link(ICEBERG)}"
        )

        assert (await bot.reply("!sr penguin", user="carol")).startswith("Queued “Penguin")
        assert await bot.reply("!wrongsong", user="carol") == (
            "Removed “Penguin Dance” by The Waddlers from the queue. Spotify cannot take songs "
            "out of its own queue, so it may still play there."
        )
        assert await bot.reply("!queue") == "The queue is empty. Request a song with !sr SONG."

        moderator = await key_with_role(bot, "mod", "moderator")
        settings = f"{API}/communities/{await bot.community_id()}/settings"
        await call(bot, "PATCH", settings, moderator, json={"voteskip_votes": 1})
        # carol's withdrawn request is still in Spotify's queue: it plays, as nobody's
        assert await bot.reply("!voteskip", user="dave") == (
            "Vote passed (1/1): skipped “Iceberg Blues” by Cold Feet. Now playing “Penguin "
            "Dance” on Spotify."
        )
        assert fake.skips == 2
        assert await bot.reply("!song") == (
            f"Now playing “Penguin Dance” by The Waddlers on Spotify (not a request): "
            f"{link(PENGUIN)}"
        )


async def test_spotify_refusals_are_the_chat_answers() -> None:
    async with (
        fake_spotify() as fake,
        ModuleHarness(music, **spotify_settings(fake)) as bot,
    ):
        await on_spotify(bot, fake)
        fake.play(ICEBERG, 0)
        fake.premium = False
        assert await bot.reply("!sr penguin") == PREMIUM
        assert await bot.reply("!skip", **MOD) == PREMIUM
        assert fake.queue == [] and fake.skips == 0
        fake.premium, fake.device = True, False
        assert await bot.reply("!sr penguin") == NO_DEVICE
        assert await bot.reply("!skip", **MOD) == NO_DEVICE
        assert await bot.reply("!queue") == "The queue is empty. Request a song with !sr SONG."
        fake.device = True
        assert (await bot.reply("!sr penguin")).startswith("Queued “Penguin Dance”")
        assert fake.queue == [f"spotify:track:{PENGUIN['id']}"]


async def test_spotify_not_connected_is_said_in_chat() -> None:
    async with (
        fake_spotify() as fake,
        ModuleHarness(music, **spotify_settings(fake)) as bot,
    ):
        moderator = await key_with_role(bot, "mod", "moderator")
        path = f"{API}/communities/{await bot.community_id()}/settings"
        await call(bot, "PATCH", path, moderator, json={"provider": "spotify"})
        expected = (
            "Spotify is not connected here yet: the broadcaster connects it with "
            "`waddlebot spotify login-url`."
        )
        assert await bot.reply("!sr penguin") == expected
        assert await bot.reply("!song") == expected
        assert fake.api_calls == []
