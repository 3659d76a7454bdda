"""A whole WaddleBot (router, playground, marketplace) on loopback, plus API keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.support import LiveServer, free_port, live_server
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.kernel.security.api_keys import create_api_key
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Entity
from waddlebot.marketplace.service import MarketplaceService
from waddlebot.modules.core import module as core
from waddlebot.router.service import RouterService

API = "/api/marketplace/v1"


@dataclass
class Market:
    bot: LiveServer
    publisher: dict[str, str]
    installer: dict[str, str]
    reader: dict[str, str]

    @property
    def client(self) -> httpx.AsyncClient:
        return self.bot.client

    async def get(self, path: str, **params: str) -> httpx.Response:
        """Browse the catalogue with a ``marketplace:read`` key."""
        return await self.client.get(path, params=params, headers=self.reader)

    async def publish(self, manifest: dict[str, Any]) -> httpx.Response:
        return await self.client.post(f"{API}/modules", json=manifest, headers=self.publisher)

    async def lobby(self) -> str:
        """The lobby channel's community (registered by saying something there)."""
        await self.bot.say("!ping")
        async with self.bot.app.state.runtime.db.session() as session:
            community = await session.scalar(
                select(Entity.community_id).where(Entity.channel_id == "lobby")
            )
        assert community is not None
        return str(community)

    async def install(
        self, community: str, name: str, config: dict[str, Any] | None = None, **body: Any
    ) -> httpx.Response:
        return await self.client.put(
            f"{API}/communities/{community}/modules/{name}",
            json={"config": config or {}, **body},
            headers=self.installer,
        )

    async def post(self, path: str) -> httpx.Response:
        return await self.client.post(f"{API}{path}", headers=self.installer)


async def open_market(settings: Settings) -> Any:
    port = free_port()  # known up front: remote modules reach its host API for their storage
    app = create_app(
        settings.model_copy(update={"module_host_url": f"http://127.0.0.1:{port}"}),
        instances=[RouterService(modules=[core]), PlaygroundService(), MarketplaceService()],
    )
    return live_server(app, port=port)


@pytest.fixture
def market_settings(stack_settings: Settings) -> Settings:
    """Override in a test module to change settings (fake platform URLs, breaker limits)."""
    return stack_settings


@pytest.fixture
async def market(market_settings: Settings) -> AsyncIterator[Market]:
    async with await open_market(market_settings) as bot:
        db = bot.app.state.runtime.db
        publish_key, _ = await create_api_key(db, name="author", scopes=["marketplace:publish"])
        install_key, _ = await create_api_key(db, name="admin", scopes=["marketplace:install"])
        read_key, _ = await create_api_key(db, name="browser", scopes=["marketplace:read"])
        yield Market(
            bot=bot,
            publisher={"X-API-Key": publish_key},
            installer={"X-API-Key": install_key},
            reader={"Authorization": f"Bearer {read_key}"},
        )
