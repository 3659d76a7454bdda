"""The portal service: server-rendered pages at ``/portal`` (``waddlebot serve portal``).

It runs in the same process as the APIs it administers in ``waddlebot up``; served alone it
needs the same database and key-value store, as every service does, and builds the module
host the router would (``host``, passed in by the app), so module pages work there too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter

from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.service import Service
from waddlebot.portal.pages import portal_pages
from waddlebot.sdk.context import Host

HostFactory = Callable[[Runtime], Awaitable[Host]]


class PortalService(Service):
    """Web administration: log in, communities, commands, members, overlays, my account."""

    name = "portal"

    def __init__(self, host: HostFactory | None = None) -> None:
        super().__init__()
        self.host = host
        self.built: Host | None = None

    def api(self) -> APIRouter:
        return portal_pages()

    async def start(self, runtime: Runtime) -> None:
        """Without a router in this process, build the module host it would have."""
        if self.host is not None and "router" not in runtime.local_services:
            self.built = runtime.module_host = await self.host(runtime)

    async def stop(self) -> None:
        await super().stop()
        twitch = self.built.twitch() if self.built is not None else None
        closer = getattr(twitch, "aclose", None)  # the Helix client it built, if any
        if closer is not None:
            await closer()
        self.built = None
