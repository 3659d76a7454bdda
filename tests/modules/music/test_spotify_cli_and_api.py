"""Connecting from the command line (``waddlebot spotify login-url|status|disconnect``) and
over REST (``/api/music/v1/communities/{id}/spotify``), on the database a running bot uses."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.modules.calendar.helpers import key_with_role
from tests.modules.music.spotify_fake import connect, fake_spotify, spotify_settings
from waddlebot.cli.main import app
from waddlebot.modules.music import module as music
from waddlebot.sdk.testing import ModuleHarness

API = "/api/music/v1/communities"


async def waddlebot(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_connect_and_disconnect_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_spotify() as fake:
        settings: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "secret_key": "cli-secret",
            **spotify_settings(fake),
        }
        for name, value in settings.items():
            monkeypatch.setenv(f"WADDLEBOT_{name.upper()}", str(value))
        monkeypatch.setenv("WADDLEBOT_LOG_LEVEL", "WARNING")
        for name in ("WADDLEBOT_DATABASE_URL", "WADDLEBOT_REDIS_URL"):
            monkeypatch.delenv(name, raising=False)
        async with ModuleHarness(music, **settings) as bot:
            await bot.community_id()
            printed = await waddlebot("spotify", "login-url", "lobby")
            assert printed.exit_code == 0, printed.output
            url = printed.stdout.strip()
            assert url.startswith(f"{fake.url}/authorize?client_id=waddle-app&")
            assert "redirect_uri=https%3A%2F%2Fbot.example.tv%2Fauth%2Fspotify%2Fcallback" in url
            page = await connect(bot, fake, url)
            assert page.status_code == 200, page.text

            status = await waddlebot("spotify", "status", "lobby")
            assert status.exit_code == 0 and "DJ Penguin (djpenguin)" in status.stdout
            gone = await waddlebot("spotify", "disconnect", "lobby")
            assert gone.stdout.strip() == "disconnected Spotify"
            again = await waddlebot("spotify", "disconnect", "lobby")
            assert again.stdout.strip() == "Spotify was not connected"
            assert (await waddlebot("spotify", "status", "lobby")).exit_code == 1
            unknown = await waddlebot("spotify", "login-url", "nowhere")
            assert unknown.exit_code == 1


async def test_login_url_needs_the_app_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WADDLEBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WADDLEBOT_SECRET_KEY", "cli-secret")
    monkeypatch.delenv("WADDLEBOT_SPOTIFY_CLIENT_ID", raising=False)
    for name in ("WADDLEBOT_DATABASE_URL", "WADDLEBOT_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    async with ModuleHarness(music, data_dir=tmp_path / "data", secret_key="cli-secret") as bot:
        await bot.community_id()
        printed = await waddlebot("spotify", "login-url", "lobby")
    assert printed.exit_code == 1
    assert "WADDLEBOT_SPOTIFY_CLIENT_ID is missing" in printed.output


async def test_the_connection_over_rest() -> None:
    async with fake_spotify() as fake, ModuleHarness(music, **spotify_settings(fake)) as bot:
        assert bot.client is not None
        community = await bot.community_id()
        owner = await key_with_role(bot, "streamer", "owner")
        member = await key_with_role(bot, "viewer", "member")
        path = f"{API}/{community}/spotify"

        assert (await bot.client.get(path, headers=member)).status_code == 404
        assert (await bot.client.post(f"{path}/login", headers=member)).status_code == 403
        login = await bot.client.post(f"{path}/login", headers=owner)
        assert login.status_code == 200 and login.json()["expires_in"] == 600
        assert (await connect(bot, fake, login.json()["url"])).status_code == 200

        shown = await bot.client.get(path, headers=member)
        assert shown.status_code == 200
        body = shown.json()
        assert body["display_name"] == "DJ Penguin"
        assert "user-read-currently-playing" in body["scopes"]
        assert not any("token" in name for name in body)

        assert (await bot.client.delete(path, headers=member)).status_code == 403
        assert (await bot.client.delete(path, headers=owner)).status_code == 204
        gone = await bot.client.delete(path, headers=owner)
        assert gone.status_code == 404
        assert gone.json() == {"detail": "Spotify is not connected in this community."}
