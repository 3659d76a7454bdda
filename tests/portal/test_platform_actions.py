"""The Platforms page's actions succeeding, against the fakes the collector tests use (the
third parties faked only at their HTTP boundary): Twitch bot login link, connect, reconcile
and disconnect at a fake Helix; the Slack install link through a fake Slack OAuth; Discord
slash-command sync to a fake Discord REST API."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from tests.collectors.discord.fake_discord import APPLICATION_ID, BOT_TOKEN, GUILD_ID, FakeDiscord
from tests.collectors.slack.fake_slack import FakeSlack
from tests.collectors.twitch.conftest import fake_twitch
from tests.collectors.twitch.fake_twitch import BOT, CLIENT_ID, CLIENT_SECRET, STREAMER, FakeTwitch
from tests.collectors.twitch.twitch_support import SECRET
from tests.portal.conftest import PASSWORD, csrf_of
from tests.support import LiveServer, free_port, live_server
from waddlebot.accounts.manager import create_user
from waddlebot.accounts.service import AccountsService
from waddlebot.app import create_app
from waddlebot.collectors.slack.service import SlackService
from waddlebot.collectors.twitch.models import TwitchChannel
from waddlebot.kernel.settings import Settings
from waddlebot.modules.core import module as core
from waddlebot.portal.service import PortalService
from waddlebot.router.service import RouterService

__all__ = ["fake_twitch"]  # the fixture, used by name
ROOT = "root@example.com"


@dataclass
class Fakes:
    twitch: FakeTwitch
    slack: FakeSlack
    discord: FakeDiscord


@pytest.fixture
async def fakes(fake_twitch: FakeTwitch) -> AsyncIterator[Fakes]:
    slack, discord = FakeSlack(), FakeDiscord()
    async with live_server(slack.app()) as s, live_server(discord.app()) as d:
        slack.url, discord.url = s.url, d.url
        yield Fakes(fake_twitch, slack, discord)


@asynccontextmanager
async def admin_portal(
    settings: Settings, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[LiveServer, httpx.AsyncClient]]:
    """The portal (with the Slack collector, which serves the install link) configured for
    the fakes through the environment, as an operator configures it; a superuser logged in."""
    env = {
        "TWITCH_CLIENT_ID": CLIENT_ID,
        "TWITCH_CLIENT_SECRET": CLIENT_SECRET,
        "TWITCH_EVENTSUB_SECRET": SECRET,
        "TWITCH_BOT_USER_ID": BOT["id"],
        "TWITCH_API_BASE": f"{fakes.twitch.url}/helix",
        "TWITCH_AUTH_BASE": f"{fakes.twitch.url}/oauth2",
        "SLACK_CLIENT_ID": "123.456",
        "SLACK_CLIENT_SECRET": "shh",
        "SLACK_API_BASE": f"{fakes.slack.url}/api/",
        "SLACK_AUTHORIZE_URL": f"{fakes.slack.url}/oauth/v2/authorize",
        "DISCORD_APPLICATION_ID": APPLICATION_ID,
        "DISCORD_BOT_TOKEN": BOT_TOKEN,
        "DISCORD_API_BASE": f"{fakes.discord.url}/api/v10",
    }
    for name, value in env.items():
        monkeypatch.setenv(f"WADDLEBOT_{name}", value)
    port = free_port()
    settings = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    app = create_app(
        settings,
        instances=[
            RouterService(modules=[core]),
            AccountsService(),
            PortalService(),
            SlackService(),
        ],
    )
    async with live_server(app, port=port) as server:
        await create_user(
            server.app.state.runtime.db, email=ROOT, password=PASSWORD, superuser=True
        )
        async with httpx.AsyncClient(base_url=server.url, timeout=30.0) as client:
            answer = await client.post(
                "/api/auth/v1/login", json={"email": ROOT, "password": PASSWORD}
            )
            assert answer.status_code == 200, answer.text
            yield server, client


def streamer_subscriptions(fake: FakeTwitch) -> set[str]:
    return {
        s["type"] for s in fake.subscriptions.values() if STREAMER["id"] in s["condition"].values()
    }


async def test_twitch_login_connect_reconcile_and_disconnect(
    stack_settings: Settings, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with admin_portal(stack_settings, fakes, monkeypatch) as (server, root):
        page = await root.get("/portal/platforms")
        assert "Not configured" not in page.text and "No channels connected." in page.text
        token = csrf_of(page.text)
        login = await root.post("/portal/platforms/twitch/login", data={"csrf_token": token})
        assert login.status_code == 200 and "Continue to Twitch" in login.text
        [link] = re.findall(r'href="([^"]+)"[^>]*>Continue to Twitch', login.text)
        target = urlsplit(html.unescape(link))
        assert f"{target.scheme}://{target.netloc}" == fakes.twitch.url
        assert parse_qs(target.query)["client_id"] == [CLIENT_ID]

        connected = await root.post(
            "/portal/platforms/twitch-connect",
            data={"login": "Streamer", "moderator": "on", "csrf_token": token},
        )
        assert connected.status_code == 200 and "Connected streamer" in connected.text
        kinds = streamer_subscriptions(fakes.twitch)
        assert len(kinds) == 10 and "channel.follow" in kinds  # the bot moderates: follows too
        assert "Streamer" in connected.text and "/portal/platforms/twitch-disconnect" in (
            connected.text
        )

        lost = next(
            key for key, s in fakes.twitch.subscriptions.items() if s["type"] == "stream.online"
        )
        del fakes.twitch.subscriptions[lost]  # gone at Twitch: reconcile makes it again
        reconciled = await root.post(
            "/portal/platforms/twitch-reconcile", data={"csrf_token": token}
        )
        assert reconciled.status_code == 200 and "Reconciled" in reconciled.text
        assert streamer_subscriptions(fakes.twitch) == kinds

        gone = await root.post(
            "/portal/platforms/twitch-disconnect", data={"login": "streamer", "csrf_token": token}
        )
        assert gone.status_code == 200
        assert "Disconnected streamer: 10 EventSub subscriptions deleted." in gone.text
        assert streamer_subscriptions(fakes.twitch) == set()
        assert "No channels connected." in gone.text
        async with server.app.state.runtime.db.read_session() as session:
            assert await session.scalar(select(TwitchChannel.login)) is None
        again = await root.post(
            "/portal/platforms/twitch-disconnect", data={"login": "streamer", "csrf_token": token}
        )
        assert again.status_code == 409 and "twitch-disconnect failed" in again.text
        unsigned = await root.post("/portal/platforms/twitch-disconnect", data={"login": "x"})
        assert unsigned.status_code == 403


async def test_slack_install_link_and_discord_sync(
    stack_settings: Settings, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with admin_portal(stack_settings, fakes, monkeypatch) as (server, root):
        page = await root.get("/portal/platforms")
        link = f'href="{server.url}/auth/slack/install"'
        assert link in page.text and "No workspace has installed the app yet." in page.text
        start = await root.get("/auth/slack/install")  # the link, followed by the browser
        assert start.status_code == 302
        location = urlsplit(start.headers["location"])
        query = parse_qs(location.query)
        assert location.path == "/oauth/v2/authorize" and query["client_id"] == ["123.456"]
        installed = await root.get(
            "/auth/slack/callback", params={"code": "good-code", "state": query["state"][0]}
        )
        assert installed.status_code == 200, installed.text
        page = await root.get("/portal/platforms")
        assert "Installed &lt;Team&gt;" in page.text and "T0INSTALL" in page.text

        token = csrf_of(page.text)
        synced = await root.post(
            "/portal/platforms/discord-sync", data={"guild": GUILD_ID, "csrf_token": token}
        )
        assert synced.status_code == 200, synced.text
        [put] = fakes.discord.of(f"/applications/{APPLICATION_ID}/guilds/{GUILD_ID}/commands")
        assert put.method == "PUT" and put.headers["authorization"] == f"Bot {BOT_TOKEN}"
        assert f"Registered {len(put.body)} slash commands in guild {GUILD_ID}." in synced.text
        assert {"ping", "help"} <= {command["name"] for command in put.body}
        everywhere = await root.post("/portal/platforms/discord-sync", data={"csrf_token": token})
        assert everywhere.status_code == 200 and "slash commands globally." in everywhere.text
        assert fakes.discord.of(f"/applications/{APPLICATION_ID}/commands")[0].method == "PUT"
