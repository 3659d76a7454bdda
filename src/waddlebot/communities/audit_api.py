"""GET /communities/{id}/audit: the community's stored AUTH/AUTHZ/AUDIT decisions.

Reading the audit trail needs ``members.manage`` (admins by default): who was refused or
allowed what, and who changed what, is administration, like the member list's changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from waddlebot.kernel.audit import PAGE_SIZE, AuditFilter, audit_records
from waddlebot.kernel.security.api_keys import Principal
from waddlebot.kernel.security.http import require_permission
from waddlebot.kernel.web import get_runtime

AUDIT_PERMISSION = "members.manage"
AuditReader = Annotated[
    Principal, Depends(require_permission(AUDIT_PERMISSION, scope="communities:read"))
]


def add_audit_routes(api: APIRouter) -> None:
    @api.get("/communities/{community_id}/audit")
    async def list_audit(
        community_id: str,
        request: Request,
        _: AuditReader,
        category: Annotated[str | None, Query(max_length=10)] = None,
        action: Annotated[str | None, Query(max_length=200)] = None,
        user: Annotated[str | None, Query(max_length=200)] = None,
        result: Annotated[str | None, Query(max_length=50)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page: Annotated[int, Query(ge=1, le=10_000)] = 1,
        size: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
    ) -> dict[str, Any]:
        """Newest first; ``action`` matches part of the action, the others exactly;
        ``since``/``until`` are ISO times with a zone; ``more`` says a next page exists."""
        where = AuditFilter(
            category=category or None,
            action=action or None,
            user=user or None,
            result=result or None,
            since=since,
            until=until,
        )
        records, more = await audit_records(
            get_runtime(request).db, community_id, where, page=page, size=size
        )
        return {"records": [r.as_dict() for r in records], "page": page, "more": more}
