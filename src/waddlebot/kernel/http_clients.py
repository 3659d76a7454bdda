"""HTTP clients for the calls WaddleBot makes on its hot paths: a reply to a platform's API
(Helix, Discord), an event to another WaddleBot service.

httpx's API over aiohttp's connection handling (``httpx-aiohttp``). Measured on the 2-core
development machine against a loopback server: httpx's own connection pool cost 1.0 ms of CPU
per request one at a time and 2.1-2.7 ms with 20-50 in flight (it rescans its connections for
every request); the same httpx client on aiohttp's transport 0.4-0.7 ms. Callers keep
httpx's requests, responses and exceptions (aiohttp's are mapped to httpx's); the aiohttp
session is made on the first request, in the running event loop, and closed by ``aclose()``.
"""

from __future__ import annotations

from typing import Any

import httpx


def http_client(**options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` (``options`` as httpx takes them) sending through aiohttp."""
    return httpx.AsyncClient(transport=_AiohttpOnFirstUse(), **options)


class _AiohttpOnFirstUse(httpx.AsyncBaseTransport):
    """``httpx-aiohttp``'s transport, made - and aiohttp imported, ~10 MiB - on the first
    request: collectors make their clients at start, configured or not, and an embedded
    installation that talks to no platform never needs aiohttp."""

    def __init__(self) -> None:
        self._transport: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            from httpx_aiohttp import AiohttpTransport

            self._transport = AiohttpTransport()
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
