"""Overlay test support: a full stack with the overlays service on a live loopback server,
API keys for the REST endpoints, and a WebSocket client for the overlay sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support import LiveServer, live_server, testkit
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.kernel.backends import Backend
from waddlebot.kernel.security.api_keys import create_api_key
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Entity
from waddlebot.modules.core import module as core
from waddlebot.modules.stream_alerts import module as stream_alerts
from waddlebot.overlays.config import OverlaySettings
from waddlebot.overlays.service import OverlayService
from waddlebot.router.service import RouterService

IMAGE_HOST = "images.example.com"


def overlay_config(**overrides: Any) -> OverlaySettings:
    values: dict[str, Any] = {"image_hosts": [IMAGE_HOST], "ping_interval": 20.0, "linger": 5.0}
    values.update(overrides)
    return OverlaySettings(**values)


def overlay_app(
    settings: Settings, config: OverlaySettings | None = None, *, backend: Backend | None = None
) -> FastAPI:
    return create_app(
        settings,
        instances=[
            RouterService(modules=[core, testkit, stream_alerts]),
            PlaygroundService(),
            OverlayService(config or overlay_config()),
        ],
        backend=backend,
    )


@dataclass
class OverlayBot:
    """A live server with the overlays service, a community and keys for its REST API."""

    server: LiveServer
    community_id: str
    manage_key: str
    write_key: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def service(self) -> OverlayService:
        services = self.server.app.state.services
        found: OverlayService = next(s for s in services if isinstance(s, OverlayService))
        return found

    async def urls(self) -> dict[str, str]:
        answer = await self.server.client.get(
            f"/api/browser-sources/v1/communities/{self.community_id}/urls",
            headers={"X-API-Key": self.manage_key},
        )
        assert answer.status_code == 200, answer.text
        urls: dict[str, str] = answer.json()["urls"]
        return urls

    async def token(self, kind: str) -> str:
        return (await self.urls())[kind].rsplit("/", 1)[1]

    async def display(self, kind: str, content: dict[str, Any], **extra: Any) -> dict[str, Any]:
        answer = await self.server.client.post(
            f"/api/browser-sources/v1/communities/{self.community_id}/display",
            json={"kind": kind, "content": content, **extra},
            headers={"X-API-Key": self.write_key},
        )
        assert answer.status_code == 202, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def rotate(self, *kinds: str) -> dict[str, str]:
        answer = await self.server.client.post(
            f"/api/browser-sources/v1/communities/{self.community_id}/rotate",
            json={"kinds": list(kinds)},
            headers={"X-API-Key": self.manage_key},
        )
        assert answer.status_code == 200, answer.text
        urls: dict[str, str] = answer.json()["urls"]
        return urls


async def lobby_community(server: LiveServer) -> str:
    """The community of the playground's lobby (registered by its first message)."""
    assert await server.texts("!ping") == ["pong"]
    async with server.app.state.runtime.db.session() as session:
        community_id = await session.scalar(
            select(Entity.community_id).where(Entity.channel_id == "lobby")
        )
    assert community_id is not None
    return str(community_id)


async def keys(server: LiveServer) -> tuple[str, str]:
    db = server.app.state.runtime.db
    manage, _ = await create_api_key(db, name="obs-setup", scopes=["overlays:manage"])
    write, _ = await create_api_key(db, name="stream-deck", scopes=["overlays:write"])
    return manage, write


@asynccontextmanager
async def overlay_bot(
    settings: Settings,
    config: OverlaySettings | None = None,
    *,
    community_id: str | None = None,
    port: int | None = None,
) -> AsyncIterator[OverlayBot]:
    app = overlay_app(settings, config)
    serving = live_server(app, port=port or 0)
    async with serving as server:
        community = community_id or await lobby_community(server)
        manage, write = await keys(server)
        yield OverlayBot(server, community, manage, write)


def socket_url(bot_url: str, token: str, kind: str | None = None) -> str:
    url = bot_url.replace("http://", "ws://") + f"/ws/overlay/{token}"
    return url + (f"?kind={kind}" if kind else "")


class OverlayClient:
    """An overlay WebSocket as a test reads it: JSON messages, pings answered on request."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def next(self, timeout: float = 5.0, *, skip_pings: bool = True) -> dict[str, Any]:
        while True:
            raw = await asyncio.wait_for(self.connection.recv(), timeout)
            message: dict[str, Any] = json.loads(raw)
            if skip_pings and message["type"] == "ping":
                continue
            return message

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def closed(self, timeout: float = 5.0) -> tuple[int | None, list[dict[str, Any]]]:
        """Read until the server closes; return its close code and what came before."""
        seen: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(timeout):
                async for raw in self.connection:
                    seen.append(json.loads(raw))
        except ConnectionClosed:
            pass
        except TimeoutError:
            pytest.fail(f"the socket stayed open; saw {seen}")
        return self.connection.close_code, seen


@asynccontextmanager
async def overlay_socket(
    bot_url: str, token: str, kind: str | None = None, *, hello: bool = True
) -> AsyncIterator[OverlayClient]:
    """Connected and, with ``hello``, past the server's hello (the hub is subscribed)."""
    async with connect(socket_url(bot_url, token, kind), open_timeout=30) as connection:
        client = OverlayClient(connection)
        if hello:
            first = await client.next()
            assert first["type"] == "hello", first
        yield client
