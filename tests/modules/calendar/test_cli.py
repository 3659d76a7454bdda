"""``waddlebot calendar url|rotate|revoke`` (the Typer app, in a worker thread) on the
database a running bot uses; the bot's feed follows what the command line did."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.modules.calendar.helpers import OWNER, day_after, feed_of, path_of
from waddlebot.cli.main import app
from waddlebot.modules.calendar import module as calendar
from waddlebot.sdk.testing import ModuleHarness


async def waddlebot(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_feed_url_rotate_and_revoke_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "secret_key": "cli-secret",
        "public_url": "https://bot.example.tv",
    }
    for name, value in settings.items():
        monkeypatch.setenv(f"WADDLEBOT_{name.upper()}", str(value))
    monkeypatch.setenv("WADDLEBOT_LOG_LEVEL", "WARNING")
    for name in ("WADDLEBOT_DATABASE_URL", "WADDLEBOT_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    async with ModuleHarness(calendar, **settings) as bot:
        await bot.reply(f"!event add Movie night {day_after(bot, 2)} 20:00", **OWNER)
        shown = await waddlebot("calendar", "url", "lobby")
        assert shown.exit_code == 0, shown.output
        url = shown.stdout.strip()
        assert url.startswith("https://bot.example.tv/api/calendar/v1/feeds/")
        assert len((await feed_of(bot, url)).walk("VEVENT")) == 1
        again = await waddlebot("calendar", "url", await bot.community_id())
        assert again.stdout.strip() == url

        rotated = await waddlebot("calendar", "rotate", "lobby")
        assert rotated.exit_code == 0 and rotated.stdout.strip() != url
        assert bot.client is not None
        assert (await bot.client.get(path_of(url))).status_code == 404
        assert (await bot.client.get(path_of(rotated.stdout.strip()))).status_code == 200

        revoked = await waddlebot("calendar", "revoke", "lobby")
        assert revoked.exit_code == 0 and "revoked" in revoked.stdout
        assert (await bot.client.get(path_of(rotated.stdout.strip()))).status_code == 404
        nothing = await waddlebot("calendar", "revoke", "lobby")
        assert "there was no calendar feed URL" in nothing.stdout
        missing = await waddlebot("calendar", "url", "no-such-community")
        assert missing.exit_code == 1 and "no-such-community" in missing.output
