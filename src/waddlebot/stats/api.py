"""``GET /api/stats/v1/communities/{id}?from=&to=``: a community's usage statistics.

Mounted by the communities service (no service role of its own). Like the community's other
reads it needs ``communities:read`` and, for people, a role in the community (403 otherwise);
dates are UTC days (``YYYY-MM-DD``, both included; default the last 30 days), 422 for a bad
date, ``from`` after ``to`` or more than 366 days.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from waddlebot.kernel.security.api_keys import Principal
from waddlebot.kernel.security.http import require_member
from waddlebot.kernel.web import get_runtime
from waddlebot.stats.usage import checked_range, community_usage

READ_SCOPE = "communities:read"
MemberReader = Annotated[Principal, Depends(require_member(READ_SCOPE))]


def stats_api() -> APIRouter:
    api = APIRouter(prefix="/api/stats/v1", tags=["stats"])

    @api.get("/communities/{community_id}")
    async def community_stats(
        community_id: str,
        request: Request,
        _: MemberReader,
        start: Annotated[date | None, Query(alias="from")] = None,
        end: Annotated[date | None, Query(alias="to")] = None,
        top: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> dict[str, Any]:
        """Per day: chat messages, active chatters (people who ran a command), commands by
        outcome and status and by command and platform; over the range: the top commands,
        runs per module and per platform."""
        first, last = checked_range(start, end)
        usage = await community_usage(get_runtime(request).db, community_id, first, last)
        return usage.as_dict(top=top)

    return api
