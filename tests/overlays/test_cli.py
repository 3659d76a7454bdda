"""``waddlebot overlays`` (the Typer app, in a worker thread) against a running server that
shares its SQLite database but not its in-memory backend, as two processes would."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.overlays.conftest import overlay_bot, overlay_config, overlay_socket
from waddlebot.cli.main import app
from waddlebot.kernel.settings import Settings


def urls_from(output: str) -> dict[str, str]:
    return dict(line.split(maxsplit=1) for line in output.strip().splitlines())


async def waddlebot(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_urls_rotate_and_revoke_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "WADDLEBOT_DATA_DIR": str(tmp_path / "data"),
        "WADDLEBOT_SECRET_KEY": "cli-secret",
        "WADDLEBOT_PUBLIC_URL": "https://overlays.example.tv",
        "WADDLEBOT_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("WADDLEBOT_DATABASE_URL", "WADDLEBOT_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(log_format="console")
    # the CLI's revocation notice goes to its own in-memory pub/sub: open sockets learn of it
    # from the hub's periodic token check instead
    async with overlay_bot(settings, overlay_config(revalidate_interval=0.3)) as bot:
        shown = await waddlebot("overlays", "urls", "lobby")
        assert shown.exit_code == 0, shown.output
        urls = urls_from(shown.stdout)
        assert list(urls) == ["ticker", "media", "general", "alert", "player"]
        assert all(url.startswith("https://overlays.example.tv/overlay/") for url in urls.values())
        assert await bot.urls() == urls  # the REST API shows the same URLs

        token = urls["ticker"].rsplit("/", 1)[1]
        async with overlay_socket(bot.url, token, "ticker") as socket:
            rotated = await waddlebot("overlays", "rotate", "lobby", "--kind", "ticker")
            assert rotated.exit_code == 0, rotated.output
            new = urls_from(rotated.stdout)
            assert set(new) == {"ticker"} and new["ticker"] != urls["ticker"]
            code, _ = await socket.closed(timeout=5)
            assert code == 4401

        revoked = await waddlebot("overlays", "revoke", bot.community_id)
        assert revoked.exit_code == 0 and "revoked 5" in revoked.stdout
        missing = await waddlebot("overlays", "urls", "no-such-community")
        assert missing.exit_code == 1 and "no community" in missing.output
        bad_kind = await waddlebot("overlays", "rotate", "lobby", "--kind", "banner")
        assert bad_kind.exit_code == 1 and "unknown overlay kind" in bad_kind.output
