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
from httpx_aiohttp import AiohttpTransport


def http_client(**options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` (``options`` as httpx takes them) sending through aiohttp."""
    return httpx.AsyncClient(transport=AiohttpTransport(), **options)
