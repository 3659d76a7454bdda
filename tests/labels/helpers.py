"""A bot with the router (core + labels modules), the playground and the labels API, plus the
few database moves the tests make directly (chatters' ids, memberships, API keys)."""

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
from waddlebot.kernel.security.api_keys import create_api_key
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Entity
from waddlebot.labels.service import LabelsService
from waddlebot.modules.core import module as core
from waddlebot.modules.labels import module as labels
from waddlebot.router.service import RouterService

API = "/api/labels/v1/communities"
READ_WRITE = ["labels:read", "labels:write"]


@asynccontextmanager
async def label_bot(settings: Settings) -> AsyncIterator[LiveServer]:
    app = create_app(
        settings,
        instances=[RouterService(modules=[core, labels]), PlaygroundService(), LabelsService()],
    )
    async with live_server(app) as bot:
        yield bot


async def entity_of(bot: LiveServer, channel: str = "lobby") -> str:
    async with bot.app.state.runtime.db.session() as session:
        found = await session.scalar(select(Entity.id).where(Entity.channel_id == channel))
    assert found is not None
    return str(found)


async def key_for(bot: LiveServer, user_id: str | None, scopes: list[str] | None = None) -> str:
    """An API key owned by ``user_id`` (a person's key), or an operator key when None."""
    key, _ = await create_api_key(
        bot.app.state.runtime.db,
        name=f"key-{user_id}",
        scopes=scopes if scopes is not None else READ_WRITE,
        user_id=user_id,
    )
    return key
