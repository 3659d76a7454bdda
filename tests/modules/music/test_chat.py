"""Song requests in chat through the real pipeline, against a fake YouTube Data API."""

from __future__ import annotations

from tests.modules.music.fake_youtube import FakeYouTube
from waddlebot.kernel.settings import Settings
from waddlebot.modules.music import module as music
from waddlebot.sdk.testing import ModuleHarness

MOD = {"user": "mod", "role": "moderator"}


async def test_search_link_song_and_queue(youtube: FakeYouTube) -> None:
    async with ModuleHarness(music) as bot:
        assert await bot.reply("!song") == "Nothing is playing. Request a song with !sr SONG."
        said = await bot.say("!sr never gonna give")
        assert [r["text"] for r in said["replies"]] == [
            "Now playing “Never Gonna Give You Up” by Rick Astley (3:33), requested by alice."
        ]
        search = next(params for name, params in youtube.calls if name == "search")
        assert search["videoCategoryId"] == "10" and search["type"] == "video"
        assert await bot.reply("!sr https://youtu.be/kJQP7kiw5Fk", user="bob") == (
            "Queued “Despacito” by Luis Fonsi (4:42) at #1 in the queue."
        )
        assert (
            await bot.reply(
                "!sr https://music.youtube.com/watch?v=9bZkp7q19f0&feature=share", user="carol"
            )
            == "Queued “Gangnam Style” by officialpsy (4:13) at #2 in the queue."
        )
        assert await bot.reply("!song", user="bob") == (
            "Now playing “Never Gonna Give You Up” by Rick Astley, requested by alice: "
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
        )
        assert await bot.reply("!queue") == (
            "Next: 1. “Despacito” by Luis Fonsi (bob) | 2. “Gangnam Style” by officialpsy (carol)"
        )
        assert await bot.reply("!sr www.youtube.com/watch?v=kJQP7kiw5Fk", user="dave") == (
            "“Despacito” is already in the queue."
        )
        assert await bot.reply("!sr no such words anywhere") == (
            "I found no song for “no such words anywhere” on YouTube."
        )
        assert await bot.reply("!sr https://example.com/watch?v=kJQP7kiw5Fk") == (
            "That is not a YouTube video link."
        )
        assert await bot.reply("!sr") == "Usage: !sr SONG or LINK (moderators: !sr on|off)"


async def test_licence_and_length_refusals(youtube: FakeYouTube) -> None:
    async with ModuleHarness(music) as bot:
        assert await bot.reply("!sr https://www.youtube.com/watch?v=NotEmbed001") == (
            "“Locked Song” cannot be played here: its owner does not allow embedding."
        )
        assert await bot.reply("!sr youtu.be/Blocked0001") == (
            "“Blocked Song” cannot be played here: it is blocked in US."
        )
        assert await bot.reply("!sr youtu.be/OnlyJapan01") == (
            "“Japan Only Song” cannot be played here: it is blocked in US."
        )
        assert await bot.reply("!sr youtu.be/LongSong001") == (
            "“Very Long Mix” is 1:02:03 long; the limit here is 10:00."
        )
        assert await bot.reply("!sr youtu.be/aaaaaaaaaaa") == (
            "That YouTube video does not exist or is private."
        )


async def test_quota_and_key_errors_are_one_clear_line(youtube: FakeYouTube) -> None:
    async with ModuleHarness(music) as bot:
        youtube.fail = (403, "quotaExceeded")
        assert await bot.reply("!sr despacito") == (
            "YouTube's request quota is used up for now; song requests are paused until it resets."
        )
        youtube.fail = (429, "rateLimitExceeded")
        assert "quota" in await bot.reply("!sr despacito")
        youtube.fail = (400, "keyInvalid")
        assert await bot.reply("!sr despacito") == (
            "YouTube refused the bot's API key; ask an admin to check it."
        )
        youtube.fail = (500, "backendError")
        assert await bot.reply("!sr despacito") == (
            "YouTube is not answering properly; try again later."
        )


async def test_requests_skips_and_votes_on_both_stacks(
    youtube: FakeYouTube, stack_settings: Settings
) -> None:
    """SQLite + memory, and PostgreSQL + Redis: the same chat, the same answers."""
    stack = {
        key: value
        for key, value in stack_settings.model_dump().items()
        if key in ("database_url", "redis_url", "redis_namespace") and value is not None
    }
    async with ModuleHarness(music, **stack) as bot:
        await bot.reply("!sr youtu.be/dQw4w9WgXcQ")
        assert await bot.reply("!sr despacito", user="bob") == (
            "Queued “Despacito” by Luis Fonsi (4:42) at #1 in the queue."
        )
        assert await bot.reply("!wrongsong", user="bob") == (
            "Removed “Despacito” by Luis Fonsi from the queue."
        )
        await bot.reply("!sr gangnam", user="carol")
        assert await bot.reply("!voteskip", user="bob") == "Vote counted: 1/5 to skip."
        assert await bot.reply("!skip", **MOD) == (
            "Skipped “Never Gonna Give You Up” by Rick Astley. Now playing “Gangnam Style” "
            "by officialpsy."
        )
        await bot.run_due(advance=253 + 31)
        assert await bot.reply("!song") == "Nothing is playing. Request a song with !sr SONG."
