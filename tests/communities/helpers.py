"""A bot with the router (core, members and custom-commands modules), the playground and the
communities API, plus the few database moves the tests make directly (memberships, people
with API keys)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select

from tests.support import LiveServer, live_server
from tests.support import bearer as bearer
from tests.support import chatter as chatter
from tests.support import community_of as community_of
from tests.support import person as person
from tests.support import set_role as set_role
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.communities.service import CommunitiesService
from waddlebot.kernel.security.api_keys import create_api_key
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Membership
from waddlebot.modules.core import module as core
from waddlebot.modules.custom_commands import module as custom_commands
from waddlebot.modules.members import module as members
from waddlebot.router.service import RouterService

API = "/api/communities/v1"
READ_WRITE = ["communities:read", "communities:write"]


@asynccontextmanager
async def community_bot(settings: Settings) -> AsyncIterator[LiveServer]:
    app = create_app(
        settings,
        instances=[
            RouterService(modules=[core, members, custom_commands]),
            PlaygroundService(),
            CommunitiesService(),
        ],
    )
    async with live_server(app) as bot:
        yield bot


async def key_for(bot: LiveServer, user_id: str | None, scopes: list[str] | None = None) -> str:
    """An API key owned by ``user_id`` (a person's key), or an operator key when None."""
    key, _ = await create_api_key(
        bot.app.state.runtime.db,
        name=f"key-{user_id}",
        scopes=scopes if scopes is not None else READ_WRITE,
        user_id=user_id,
    )
    return key


async def role_in(bot: LiveServer, community_id: str, user_id: str) -> str | None:
    async with bot.app.state.runtime.db.session() as session:
        found = await session.scalar(
            select(Membership.role).where(
                Membership.community_id == community_id, Membership.user_id == user_id
            )
        )
    return None if found is None else str(found)
