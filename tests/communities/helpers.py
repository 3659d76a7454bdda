"""A bot with the router (core + members modules), the playground and the communities API,
plus the few database moves the tests make directly (memberships, people with API keys)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import delete, select

from tests.support import LiveServer, live_server
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.communities.service import CommunitiesService
from waddlebot.kernel.security.api_keys import create_api_key
from waddlebot.kernel.security.rbac import access_changed
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Entity, Membership, PlatformIdentity, User
from waddlebot.modules.core import module as core
from waddlebot.modules.members import module as members
from waddlebot.router.service import RouterService

API = "/api/communities/v1"
READ_WRITE = ["communities:read", "communities:write"]


@asynccontextmanager
async def community_bot(settings: Settings) -> AsyncIterator[LiveServer]:
    app = create_app(
        settings,
        instances=[
            RouterService(modules=[core, members]),
            PlaygroundService(),
            CommunitiesService(),
        ],
    )
    async with live_server(app) as bot:
        yield bot


async def community_of(bot: LiveServer, channel: str = "lobby") -> str:
    """The community of a playground channel (registered by a first message)."""
    await bot.texts("hello", user="someone", channel=channel)
    async with bot.app.state.runtime.db.session() as session:
        found = await session.scalar(
            select(Entity.community_id).where(Entity.channel_id == channel)
        )
    assert found is not None
    return str(found)


async def chatter(bot: LiveServer, name: str, channel: str = "lobby") -> str:
    """The user id of a playground chatter (who says hello first, so the bot knows them)."""
    await bot.texts("hello", user=name, channel=channel)
    async with bot.app.state.runtime.db.session() as session:
        found = await session.scalar(
            select(PlatformIdentity.user_id).where(
                PlatformIdentity.platform == "playground",
                PlatformIdentity.platform_user_id == name,
            )
        )
    assert found is not None
    return str(found)


async def set_role(bot: LiveServer, community_id: str, user_id: str, role: str | None) -> None:
    """Set (or with None remove) a membership directly, then announce the change."""
    runtime = bot.app.state.runtime
    async with runtime.db.session() as session:
        await session.execute(
            delete(Membership).where(
                Membership.community_id == community_id, Membership.user_id == user_id
            )
        )
        if role is not None:
            session.add(Membership(community_id=community_id, user_id=user_id, role=role))
    await access_changed(runtime.backend.kv, community_id)


async def person(bot: LiveServer, name: str) -> str:
    """A person known only to the portal (no platform account)."""
    async with bot.app.state.runtime.db.session() as session:
        row = User(display_name=name)
        session.add(row)
    return row.id


async def key_for(bot: LiveServer, user_id: str | None, scopes: list[str] | None = None) -> str:
    """An API key owned by ``user_id`` (a person's key), or an operator key when None."""
    key, _ = await create_api_key(
        bot.app.state.runtime.db,
        name=f"key-{user_id}",
        scopes=scopes if scopes is not None else READ_WRITE,
        user_id=user_id,
    )
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def role_in(bot: LiveServer, community_id: str, user_id: str) -> str | None:
    async with bot.app.state.runtime.db.session() as session:
        found = await session.scalar(
            select(Membership.role).where(
                Membership.community_id == community_id, Membership.user_id == user_id
            )
        )
    return None if found is None else str(found)
