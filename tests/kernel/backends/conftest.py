"""Shared by the Redis backend's tests: a backend on a namespace of its own, and a "Redis"
that accepts connections and never answers (a half-open link)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from tests.conftest import REDIS_URL, require_service
from waddlebot.kernel.backends.redis import RedisBackend


@pytest.fixture
async def redis_backend() -> AsyncIterator[RedisBackend]:
    url = require_service(REDIS_URL, "Redis", "WADDLEBOT_TEST_REDIS_URL")
    backend = RedisBackend.from_url(url, namespace=f"wbtest-{uuid.uuid4().hex[:12]}")
    try:
        yield backend
    finally:
        await backend.drop_namespace()
        await backend.close()


@dataclass
class SilentServer:
    url: str
    accepted: list[asyncio.StreamWriter] = field(default_factory=list)


@asynccontextmanager
async def silent_redis() -> AsyncIterator[SilentServer]:
    """A loopback server that accepts, reads nothing, answers nothing and never closes."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield SilentServer(f"redis://127.0.0.1:{port}/0", accepted)
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
