"""``GET /api/coordination/v1/leases``: live instances and leases, for installation admins.

Mounted on every process next to the health details (the view is the whole installation's,
read from the shared backend), so no service role of its own is needed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from waddlebot.kernel.coordination.status import coordination_view
from waddlebot.kernel.observability.health_details import installation_admin
from waddlebot.kernel.web import get_runtime


def coordination_api() -> APIRouter:
    api = APIRouter(tags=["coordination"])

    @api.get("/api/coordination/v1/leases", dependencies=[Depends(installation_admin)])
    async def leases(request: Request) -> dict[str, Any]:
        return await coordination_view(get_runtime(request).backend.leases)

    return api
