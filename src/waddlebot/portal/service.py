"""The portal service: server-rendered pages at ``/portal`` (``waddlebot serve portal``).

It runs in the same process as the APIs it administers in ``waddlebot up``; served alone it
needs the same database and key-value store, as every service does.
"""

from __future__ import annotations

from fastapi import APIRouter

from waddlebot.kernel.service import Service
from waddlebot.portal.pages import portal_pages


class PortalService(Service):
    """Web administration: log in, communities, commands, members, overlays, my account."""

    name = "portal"

    def api(self) -> APIRouter:
        return portal_pages()
