"""The Platforms page: installation administrators only; statuses from the collectors'
tables; actions call the CLI's functions and show their refusals (here: not configured)."""

from __future__ import annotations

import pytest

from tests.portal.conftest import PASSWORD, csrf_of, logged_in, portal_bot
from waddlebot.accounts.manager import create_user
from waddlebot.collectors.slack.models import SlackInstallation
from waddlebot.collectors.twitch.models import TwitchChannel, TwitchSubscription
from waddlebot.kernel.settings import Settings

ROOT = "root@example.com"


async def test_platforms_page_for_installation_admins(
    stack_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TWITCH_CLIENT_ID", "SLACK_CLIENT_ID", "DISCORD_APPLICATION_ID"):
        monkeypatch.delenv(f"WADDLEBOT_{name}", raising=False)
    async with portal_bot(stack_settings) as bot:
        await create_user(bot.runtime.db, email=ROOT, password=PASSWORD, superuser=True)
        async with bot.runtime.db.session() as session:
            session.add(TwitchChannel(broadcaster_id="b1", login="ada", display_name="Ada"))
            session.add(
                TwitchSubscription(
                    broadcaster_id="b1",
                    type="channel.chat.message",
                    version="1",
                    condition={},
                    status="enabled",
                )
            )
            session.add(SlackInstallation(team_id="T1", team_name="Penguins", token_sealed="x"))
        async with logged_in(bot) as owner:  # a community owner is not an installation admin
            home = await owner.get("/portal/communities")
            assert "/portal/platforms" not in home.text
            assert (await owner.get("/portal/platforms")).status_code == 403
        async with logged_in(bot, ROOT) as root:
            page = await root.get("/portal/platforms")
            assert page.status_code == 200
            assert "Ada" in page.text and "1 enabled" in page.text and "Penguins" in page.text
            assert "Not configured: set <code>WADDLEBOT_TWITCH_CLIENT_ID" in page.text
            token = csrf_of(page.text)
            connect = await root.post(
                "/portal/platforms/twitch-connect", data={"login": "bob", "csrf_token": token}
            )
            assert connect.status_code == 409 and "twitch-connect failed" in connect.text
            sync = await root.post("/portal/platforms/discord-sync", data={"csrf_token": token})
            assert sync.status_code == 409
            assert "WADDLEBOT_DISCORD_APPLICATION_ID is not set" in sync.text
            login = await root.post("/portal/platforms/twitch/login", data={"csrf_token": token})
            assert login.status_code == 409 and "Twitch is not configured." in login.text
            assert (
                await root.post("/portal/platforms/twitch-reconcile", data={})
            ).status_code == 403  # no CSRF token
