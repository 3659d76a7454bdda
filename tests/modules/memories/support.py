"""A bot with the router (core, labels, memories), the playground and the communities API,
over real HTTP, for the memories REST tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.support import LiveServer, live_server
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.communities.service import CommunitiesService
from waddlebot.kernel.settings import Settings
from waddlebot.modules.core import module as core
from waddlebot.modules.labels import module as labels
from waddlebot.modules.memories import module as memories
from waddlebot.router.service import RouterService

API = "/api/memories/v1"


@asynccontextmanager
async def memories_bot(settings: Settings) -> AsyncIterator[LiveServer]:
    app = create_app(
        settings,
        instances=[
            RouterService(modules=[core, labels, memories]),
            PlaygroundService(),
            CommunitiesService(),
        ],
    )
    async with live_server(app) as bot:
        yield bot
