"""The queue and settings over REST with the community's permissions."""

from __future__ import annotations

from tests.modules.calendar.helpers import call, key_with_role
from tests.modules.music.fake_youtube import FakeYouTube
from waddlebot.modules.music import module as music
from waddlebot.sdk.testing import ModuleHarness

API = "/api/music/v1"


async def test_queue_operations_need_music_manage(youtube: FakeYouTube) -> None:
    async with ModuleHarness(music) as bot:
        for user, link in (
            ("alice", "dQw4w9WgXcQ"),
            ("bob", "kJQP7kiw5Fk"),
            ("carol", "9bZkp7q19f0"),
            ("dave", "y6120QOlsfU"),
        ):
            await bot.reply(f"!sr youtu.be/{link}", user=user)
        community = await bot.community_id()
        queue = f"{API}/communities/{community}/queue"
        member = await key_with_role(bot, "bob", "member")
        moderator = await key_with_role(bot, "mod", "moderator")
        outsider = await key_with_role(bot, "eve", None)

        assert (await call(bot, "GET", queue, outsider)).status_code == 403
        now = (await call(bot, "GET", f"{API}/communities/{community}/playing", member)).json()
        assert (now["provider"], now["title"], now["requester_name"]) == (
            "youtube",
            "Never Gonna Give You Up",
            "alice",
        )
        listed = (await call(bot, "GET", queue, member)).json()["entries"]
        assert [(e["position"], e["status"], e["title"]) for e in listed] == [
            (1, "playing", "Never Gonna Give You Up"),
            (2, "queued", "Despacito"),
            (3, "queued", "Gangnam Style"),
            (4, "queued", "Sandstorm"),
        ]
        ids = {e["title"]: e["id"] for e in listed}

        move = {"entry_id": ids["Sandstorm"], "position": 1}
        assert (await call(bot, "POST", f"{queue}/move", member, json=move)).status_code == 403
        moved = await call(bot, "POST", f"{queue}/move", moderator, json=move)
        assert moved.status_code == 200, moved.text
        assert [e["title"] for e in moved.json()["entries"]] == [
            "Never Gonna Give You Up",
            "Sandstorm",
            "Despacito",
            "Gangnam Style",
        ]
        assert (await bot.reply("!queue")).startswith("Next: 1. “Sandstorm” by Darude")
        playing = {"entry_id": ids["Never Gonna Give You Up"], "position": 2}
        refused = await call(bot, "POST", f"{queue}/move", moderator, json=playing)
        assert refused.status_code == 409
        assert refused.json() == {"detail": "That song is playing now; it cannot move."}
        bad = await call(bot, "POST", f"{queue}/move", moderator, json={"entry_id": "x"})
        assert bad.status_code == 422

        one = f"{queue}/{ids['Despacito']}"
        assert (await call(bot, "DELETE", one, member)).status_code == 403
        removed = await call(bot, "DELETE", one, moderator)
        assert removed.status_code == 200 and removed.json()["title"] == "Despacito"
        assert (await call(bot, "DELETE", one, moderator)).status_code == 404

        assert (await call(bot, "DELETE", queue, member)).status_code == 403
        cleared = await call(bot, "DELETE", queue, moderator)
        assert cleared.json() == {"community_id": community, "removed": 2}
        left = (await call(bot, "GET", queue, member)).json()["entries"]
        assert [e["title"] for e in left] == ["Never Gonna Give You Up"]


async def test_settings_read_by_members_changed_by_managers(youtube: FakeYouTube) -> None:
    async with ModuleHarness(music) as bot:
        community = await bot.community_id()
        path = f"{API}/communities/{community}/settings"
        member = await key_with_role(bot, "bob", "member")
        moderator = await key_with_role(bot, "mod", "moderator")
        shown = (await call(bot, "GET", path, member)).json()
        assert (shown["provider"], shown["max_per_user"], shown["requests_open"]) == (
            "youtube",
            3,
            True,
        )
        change = {"max_length_seconds": 240, "banned_artists": ["Darude"]}
        assert (await call(bot, "PATCH", path, member, json=change)).status_code == 403
        changed = await call(bot, "PATCH", path, moderator, json=change)
        assert changed.status_code == 200 and changed.json()["max_length_seconds"] == 240
        assert (await call(bot, "PUT", path, moderator, json={"volume": 101})).status_code == 422
        assert (await call(bot, "PUT", path, moderator, json={"nope": 1})).status_code == 422
        put = await call(bot, "PUT", path, moderator, json={"voteskip_percent": 30})
        assert put.json()["voteskip_percent"] == 30 and put.json()["banned_artists"] == ["Darude"]
        assert await bot.reply("!sr bohemian") == (
            "“Bohemian Rhapsody” is 5:59 long; the limit here is 4:00."
        )
