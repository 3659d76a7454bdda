"""Portal test support: the whole stack the portal administers on a live loopback server,
with a community (the playground channel ``lobby``), people who can log in, and helpers to
log in over plain HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from tests.support import LiveServer, chatter, community_of, free_port, live_server, set_role
from waddlebot.accounts.manager import create_user
from waddlebot.accounts.service import AccountsService
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.communities.service import CommunitiesService
from waddlebot.kernel.settings import Settings
from waddlebot.marketplace.catalogue import Catalogue
from waddlebot.modules.calendar import module as calendar
from waddlebot.modules.core import module as core
from waddlebot.modules.custom_commands import module as custom_commands
from waddlebot.modules.inventory import module as inventory
from waddlebot.modules.members import module as members
from waddlebot.modules.memories import module as memories
from waddlebot.modules.music.provider import Track
from waddlebot.modules.music.queue import MusicQueue
from waddlebot.modules.shoutouts import module as shoutouts
from waddlebot.overlays.config import OverlaySettings
from waddlebot.overlays.service import OverlayService
from waddlebot.portal.service import PortalService
from waddlebot.router.service import RouterService
from waddlebot.sdk.manifest import check_manifest

PASSWORD = "correct horse battery staple"
OWNER = "ada@example.com"
MEMBER = "mo@example.com"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


def portal_app(settings: Settings) -> FastAPI:
    return create_app(
        settings,
        instances=[
            RouterService(
                modules=[core, members, custom_commands, memories, inventory, calendar, shoutouts]
            ),
            PlaygroundService(),
            CommunitiesService(),
            AccountsService(),
            OverlayService(OverlaySettings(ping_interval=20.0, linger=5.0)),
            PortalService(),
        ],
    )


@dataclass
class PortalBot:
    """A live server with the portal, the playground community, an owner and a member."""

    server: LiveServer
    community_id: str
    owner_id: str
    member_id: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def runtime(self) -> Any:
        return self.server.app.state.runtime


@asynccontextmanager
async def portal_bot(settings: Settings, **overrides: Any) -> AsyncIterator[PortalBot]:
    """The stack on a port chosen first, so the public URL (overlay URLs, origins) is ours."""
    port = free_port()
    values = {**settings.model_dump(), "public_url": f"http://127.0.0.1:{port}", **overrides}
    async with live_server(portal_app(Settings(**values)), port=port) as server:
        db = server.app.state.runtime.db
        community = await community_of(server)
        await chatter(server, "bob")
        owner = await create_user(db, email=OWNER, password=PASSWORD, display_name="Ada")
        member = await create_user(db, email=MEMBER, password=PASSWORD, display_name="Mo")
        await set_role(server, community, owner.id, "owner")
        await set_role(server, community, member.id, "member")
        yield PortalBot(server, community, owner.id, member.id)


@asynccontextmanager
async def logged_in(bot: PortalBot, email: str = OWNER) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client (own cookie jar) logged in through the auth API."""
    async with httpx.AsyncClient(base_url=bot.url, timeout=30.0) as client:
        answer = await client.post(
            "/api/auth/v1/login", json={"email": email, "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        yield client


def csrf_of(html: str) -> str:
    found = CSRF_INPUT.search(html)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


DICE = Path(__file__).resolve().parents[2] / "examples" / "dice" / "manifest.json"


async def publish_dice(bot: PortalBot) -> None:
    """The example dice module in the catalogue (its endpoint is never called here)."""
    runtime = bot.runtime
    await Catalogue(runtime.db, runtime.backend).publish(
        check_manifest(json.loads(DICE.read_text())), "tests", admin=True
    )


SONGS = ("Penguin Dance", "Iceberg Blues", "Snow Day", "Fish Friday")


async def request_songs(bot: PortalBot) -> list[str]:
    """Four requests by the owner (the first plays at once); their entry ids in order."""
    queue = MusicQueue(bot.runtime.db)
    await queue.update_settings(bot.community_id, {"max_per_user": 0})
    ids = []
    for number, title in enumerate(SONGS):
        track = Track("youtube", f"video{number:06}", title, "Waddlers", 180_000, "https://y/")
        added = await queue.add(
            bot.community_id,
            track,
            user_id=bot.owner_id,
            name="Ada",
            subscriber=False,
            moderator=True,
            now=datetime.now(UTC),
        )
        ids.append(added.entry.id)
    return ids
