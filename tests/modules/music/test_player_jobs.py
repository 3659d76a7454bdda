"""The queue moves on by itself: each YouTube track's end job (due at its natural end, or
at once when the player page reports ``ended``/``error`` through JobStore.hurry)."""

from __future__ import annotations

from tests.modules.music.fake_youtube import FakeYouTube
from waddlebot.kernel.contracts import PLAYER_MODULE, player_job_key
from waddlebot.modules.music import module as music
from waddlebot.modules.music.queue import MusicQueue
from waddlebot.sdk.testing import ModuleHarness


async def _playing(bot: ModuleHarness) -> str | None:
    entry = await MusicQueue(bot.runtime.db).current(await bot.community_id())
    return entry.title if entry else None


async def test_a_track_ends_on_time_without_a_player_page(youtube: FakeYouTube) -> None:
    async with ModuleHarness(music) as bot:
        await bot.reply("!sr youtu.be/dQw4w9WgXcQ")  # 3:33
        await bot.reply("!sr youtu.be/kJQP7kiw5Fk", user="bob")
        assert await bot.run_due(advance=213) == []
        assert await _playing(bot) == "Never Gonna Give You Up"
        assert await bot.run_due(advance=31) == []  # no chat line for a normal change
        assert await _playing(bot) == "Despacito"
        await bot.run_due(advance=283 + 31)
        assert await _playing(bot) is None


async def test_player_reports_end_or_skip_with_a_note(youtube: FakeYouTube) -> None:
    async with ModuleHarness(music) as bot:
        await bot.reply("!sr youtu.be/dQw4w9WgXcQ")
        await bot.reply("!sr youtu.be/kJQP7kiw5Fk", user="bob")
        await bot.reply("!sr youtu.be/9bZkp7q19f0", user="carol")
        queue = MusicQueue(bot.runtime.db)
        community = await bot.community_id()
        jobs = bot.router.jobs
        assert jobs is not None
        first = await queue.current(community)
        assert first is not None
        assert await jobs.hurry(
            PLAYER_MODULE, community, player_job_key(first.id), {"report": "ended"}
        )
        assert await bot.run_due() == []
        second = await queue.current(community)
        assert second is not None and second.title == "Despacito"
        # a second socket reporting the same entry finds no job any more
        assert not await jobs.hurry(
            PLAYER_MODULE, community, player_job_key(first.id), {"report": "ended"}
        )
        await jobs.hurry(
            PLAYER_MODULE, community, player_job_key(second.id), {"report": "error", "code": 150}
        )
        assert await bot.run_due() == [
            "Skipped “Despacito” by Luis Fonsi: YouTube would not play it (its owner does not "
            "allow embedding). Now playing “Gangnam Style” by officialpsy."
        ]
        assert await _playing(bot) == "Gangnam Style"
