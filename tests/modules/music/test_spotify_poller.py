"""The now-playing poller through the real scheduler with the harness clock: it shows the
track on the ``media`` overlay when it changes, polls sooner near a track's end, slows down
and then stops while nothing plays, and ``ensure_polling`` never starts a second chain.

A tiny module here starts the poller alone, the way ``!sr``/``!song`` do
(``ensure_polling(ctx)`` in a handler); the queue's side is in ``test_spotify_requests.py``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.modules.music.spotify_fake import (
    ICEBERG,
    PENGUIN,
    FakeSpotify,
    accounts_of,
    connect,
    fake_spotify,
    spotify_settings,
)
from waddlebot.kernel.scheduler.models import ScheduledJobRow
from waddlebot.modules.music import module as music
from waddlebot.modules.music import spotify
from waddlebot.modules.music.spotify import (
    IDLE_EVERY,
    IDLE_RUNS,
    PLAYING_EVERY,
    POLL,
    ensure_polling,
    poll,
)
from waddlebot.sdk import Context, Module
from waddlebot.sdk.testing import ModuleHarness

jukebox = Module("jukebox", description="starts the Spotify poller, as !sr will")
jukebox.on_schedule(POLL)(spotify.spotify_poll)


@jukebox.command("spstart")
async def spstart(ctx: Context) -> None:
    await ensure_polling(ctx)
    ctx.reply("polling")


@jukebox.command("spsong")
async def spsong(ctx: Context) -> None:
    playing = await poll(ctx)
    ctx.reply("nothing" if playing is None else f"{playing.track.title} by {playing.track.artist}")


def harness(fake: FakeSpotify) -> ModuleHarness:
    return ModuleHarness(music, jukebox, **spotify_settings(fake))


async def tick(bot: ModuleHarness, seconds: float) -> list[dict[str, Any]]:
    """Move the harness clock on and run what is due; the ``media`` overlays they sent."""
    bot._offset += timedelta(seconds=seconds)  # the harness keeps overlay actions to itself
    assert bot.router.scheduler is not None
    results = await bot.router.scheduler.run_due()
    return [
        action.content
        for result in results
        for action in result.actions
        if action.type == "overlay" and action.kind == "media"
    ]


async def pending(bot: ModuleHarness) -> list[int]:
    """Whole seconds until each pending poll, on the harness clock (which runs on)."""
    async with bot.runtime.db.session() as session:
        rows = list(
            await session.scalars(
                select(ScheduledJobRow).where(
                    ScheduledJobRow.handler == POLL, ScheduledJobRow.status == "pending"
                )
            )
        )
    now = bot.now()
    return [round((row.due_at.replace(tzinfo=now.tzinfo) - now).total_seconds()) for row in rows]


async def test_the_poller_follows_the_track_and_stops_when_idle() -> None:
    async with (
        fake_spotify() as fake,
        ModuleHarness(music, jukebox, **spotify_settings(fake)) as bot,
    ):
        assert (await connect(bot, fake)).status_code == 200
        fake.play(PENGUIN, 170_000)  # 10 s before the end
        assert await bot.reply("!spsong") == "Penguin Dance by The Waddlers"
        assert await bot.reply("!spstart") == "polling"
        assert await bot.reply("!spstart") == "polling"  # still one chain
        shown = await tick(bot, 0)
        assert [card["title"] for card in shown] == ["Penguin Dance"]
        card = shown[0]
        assert (card["artist"], card["source"], card["length"], card["position"]) == (
            "The Waddlers",
            "Spotify",
            180.0,
            170.0,
        )
        assert await pending(bot) == [11]  # near the end: just after it ends

        fake.play(ICEBERG, 1_000)
        shown = await tick(bot, 11)
        assert [card["title"] for card in shown] == ["Iceberg Blues"]
        assert await pending(bot) == [PLAYING_EVERY]  # a long way to go: the normal pace
        assert await tick(bot, PLAYING_EVERY) == []  # same track: no new card
        assert await bot.reply("!spstart") == "polling"
        assert len(await pending(bot)) == 1

        fake.play(ICEBERG, 20_000, playing=False)  # paused: shown as paused, then idle pace
        shown = await tick(bot, PLAYING_EVERY)
        assert [card["playing"] for card in shown] == [False]
        assert await pending(bot) == [IDLE_EVERY]
        fake.playing = None
        for _ in range(IDLE_RUNS):
            await tick(bot, IDLE_EVERY)
        assert await pending(bot) == []  # stopped polling a silent Spotify

        calls = len(fake.api_calls)
        await tick(bot, 600)
        assert len(fake.api_calls) == calls
        fake.play(PENGUIN, 0)
        assert await bot.reply("!spstart") == "polling"  # !sr starts it again
        assert [card["title"] for card in await tick(bot, 0)] == ["Penguin Dance"]


async def test_the_poller_rides_out_rate_limits_and_outages_and_stops_when_disconnected() -> None:
    async with (
        fake_spotify() as fake,
        ModuleHarness(music, jukebox, **spotify_settings(fake)) as bot,
    ):
        assert (await connect(bot, fake)).status_code == 200
        fake.play(PENGUIN, 0)
        await bot.reply("!spstart")
        assert len(await tick(bot, 0)) == 1
        fake.throttle = [30]  # rate limited: the next poll waits what Spotify asks
        assert await tick(bot, PLAYING_EVERY) == []
        assert await pending(bot) == [30]
        assert await tick(bot, 30) == []  # the same track: no second card
        fake.down = True  # Spotify down: keep trying at the idle pace, show nothing new
        assert await tick(bot, PLAYING_EVERY) == []
        assert await pending(bot) == [IDLE_EVERY]
        fake.down = False
        assert await tick(bot, IDLE_EVERY) == []
        assert await pending(bot) == [PLAYING_EVERY]
        await accounts_of(bot).disconnect(await bot.community_id())
        assert await tick(bot, PLAYING_EVERY) == []
        assert await pending(bot) == []
        assert await bot.reply("!spsong") == (
            "Spotify is not connected here yet: the broadcaster connects it with "
            "`waddlebot spotify login-url`."
        )
