"""Limits, !wrongsong, !skip and !voteskip through the real pipeline (fake YouTube)."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.modules.music.fake_youtube import FakeYouTube
from waddlebot.kernel.storage.module_data import ModuleDatum
from waddlebot.modules.music import module as music
from waddlebot.modules.music.queue import MusicQueue
from waddlebot.sdk.testing import ModuleHarness

MOD = {"user": "mod", "role": "moderator"}


async def _settings(bot: ModuleHarness, **changes: object) -> None:
    await MusicQueue(bot.runtime.db).update_settings(await bot.community_id(), dict(changes))
    if "voteskip_percent" in changes:  # as the settings API does
        await bot.runtime.module_host.reload_commands()


async def _stored_rows(bot: ModuleHarness) -> int:
    async with bot.runtime.db.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(ModuleDatum)) or 0)


async def test_limits_each_say_why(youtube: FakeYouTube) -> None:
    async with ModuleHarness(music) as bot:
        await _settings(bot, max_per_user=2, banned_artists=["Darude"])
        await bot.reply("!sr youtu.be/dQw4w9WgXcQ")
        await bot.reply("!sr youtu.be/kJQP7kiw5Fk")
        assert await bot.reply("!sr youtu.be/9bZkp7q19f0") == (
            "You have 2 song(s) in the queue already (the limit is 2); wait until one plays, "
            "or !wrongsong."
        )
        assert await bot.reply("!sr sandstorm", user="bob") == "Songs by Darude are banned here."
        await _settings(bot, banned_tracks=["https://www.youtube.com/watch?v=hTWKbfoikeg"])
        assert await bot.reply("!sr teen spirit", user="bob") == (
            "“Smells Like Teen Spirit” is banned here."
        )
        await _settings(bot, explicit_filter=True)
        assert await bot.reply("!sr youtu.be/Explicit001", user="bob") == (
            "“Rude Song” is marked explicit, and explicit songs are off here."
        )
        await _settings(bot, subscriber_only=True)
        assert await bot.reply("!sr gangnam", user="bob") == (
            "Song requests are for subscribers only right now."
        )
        assert await bot.reply("!sr gangnam", user="bob", role="subscriber") == (
            "Queued “Gangnam Style” by officialpsy (4:13) at #2 in the queue."
        )
        assert await bot.reply("!sr off", user="bob") == (
            "Only moderators can turn song requests on or off."
        )
        assert await bot.reply("!sr off", **MOD) == "Song requests are off."
        assert await bot.reply("!sr bohemian", user="bob", role="subscriber") == (
            "Song requests are off right now."
        )
        assert await bot.reply("!sr on", **MOD) == "Song requests are on."
        await _settings(bot, max_length_seconds=300)
        assert await bot.reply("!sr bohemian", user="bob", role="subscriber") == (
            "“Bohemian Rhapsody” is 5:59 long; the limit here is 5:00."
        )


async def test_wrongsong_removes_only_your_latest_waiting_request(youtube: FakeYouTube) -> None:
    async with ModuleHarness(music) as bot:
        await bot.reply("!sr youtu.be/dQw4w9WgXcQ")  # plays now: not removable
        assert await bot.reply("!wrongsong") == "You have no song waiting in the queue."
        await bot.reply("!sr youtu.be/kJQP7kiw5Fk")
        await bot.reply("!sr youtu.be/9bZkp7q19f0", user="bob")
        await bot.reply("!sr youtu.be/y6120QOlsfU")
        assert await bot.reply("!wrongsong") == "Removed “Sandstorm” by Darude from the queue."
        assert await bot.reply("!queue") == (
            "Next: 1. “Despacito” by Luis Fonsi (alice) | 2. “Gangnam Style” by officialpsy (bob)"
        )


async def test_skip_is_for_moderators_and_moves_the_overlays_on(youtube: FakeYouTube) -> None:
    async with ModuleHarness(music) as bot:
        first = await bot.say("!sr youtu.be/dQw4w9WgXcQ")
        assert first["status"] == "handled" or first["replies"]
        await bot.reply("!sr youtu.be/kJQP7kiw5Fk", user="bob")
        assert "moderator" in (await bot.reply("!skip", user="bob")).lower()
        assert await bot.reply("!skip", **MOD) == (
            "Skipped “Never Gonna Give You Up” by Rick Astley. Now playing “Despacito” by "
            "Luis Fonsi."
        )
        assert (await bot.reply("!song")).startswith(
            "Now playing “Despacito” by Luis Fonsi, requested by bob"
        )
        assert await bot.reply("!skip", **MOD) == (
            "Skipped “Despacito” by Luis Fonsi. The queue is empty."
        )
        assert await bot.reply("!skip", **MOD) == "Nothing is playing."


async def test_voteskip_at_n_votes(youtube: FakeYouTube) -> None:
    async with ModuleHarness(music) as bot:
        await _settings(bot, voteskip_votes=2, voteskip_percent=0)
        assert await bot.reply("!voteskip") == "Nothing is playing."
        await bot.reply("!sr youtu.be/dQw4w9WgXcQ")
        await bot.reply("!sr youtu.be/kJQP7kiw5Fk")
        assert await bot.reply("!voteskip", user="bob") == "Vote counted: 1/2 to skip."
        assert await bot.reply("!voteskip", user="bob") == "You voted already (1/2 to skip)."
        assert await bot.reply("!voteskip", user="carol") == (
            "Vote passed (2/2): skipped “Never Gonna Give You Up” by Rick Astley. "
            "Now playing “Despacito” by Luis Fonsi."
        )
        # votes belong to the track: the new one starts at zero
        assert await bot.reply("!voteskip", user="bob") == "Vote counted: 1/2 to skip."


async def test_voteskip_at_a_percentage_of_recent_chatters(youtube: FakeYouTube) -> None:
    async with ModuleHarness(music) as bot:
        await _settings(bot, voteskip_votes=0, voteskip_percent=50)
        for name in ("c1", "c2", "c3", "c4", "c5", "c6"):
            await bot.say("hello there", user=name)
        await bot.reply("!sr youtu.be/dQw4w9WgXcQ")
        assert await bot.reply("!voteskip", user="c1") == "Vote counted: 1/3 to skip."
        assert await bot.reply("!voteskip", user="c2") == "Vote counted: 2/3 to skip."
        assert await bot.reply("!voteskip", user="c3") == (
            "Vote passed (3/3): skipped “Never Gonna Give You Up” by Rick Astley. "
            "The queue is empty."
        )


async def test_chat_costs_nothing_where_voteskip_counts_no_chatters(youtube: FakeYouTube) -> None:
    async with ModuleHarness(music) as bot:
        table = bot.router.table
        community = await bot.community_id()
        await bot.say("hello there", user="c1")
        assert not table.listens("music", "message", community)  # not even called
        assert await _stored_rows(bot) == 0  # no chatter remembered, no storage touched
        await _settings(bot, voteskip_percent=50)
        assert table.listens("music", "message", community)
        await bot.say("hello again", user="c1")
        assert await _stored_rows(bot) == 1
        await _settings(bot, voteskip_percent=0)
        await bot.say("and again", user="c2")
        assert await _stored_rows(bot) == 1
