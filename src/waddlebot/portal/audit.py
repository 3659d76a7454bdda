"""The audit page: the community's stored AUTH/AUTHZ/AUDIT decisions, filterable, paged.

A GET form (no state changes, so no CSRF token), the same query and the same permission as
``GET /api/communities/v1/communities/{id}/audit``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from waddlebot.communities.audit_api import AUDIT_PERMISSION
from waddlebot.kernel.audit import CATEGORIES, PAGE_SIZE, AuditFilter, audit_records
from waddlebot.kernel.errors import Invalid
from waddlebot.portal.web import Who, enter_community, render, runtime_of

FIELDS = ("category", "action", "user", "result", "since", "until")


def _day(value: str, name: str, errors: dict[str, str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[name] = "Give a date like 2026-11-30."
        return None


def add_audit_pages(api: APIRouter) -> None:
    @api.get("/c/{community_id}/audit")
    async def audit_page(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, AUDIT_PERMISSION)
        query = request.query_params
        form = {name: query.get(name, "")[:200].strip() for name in FIELDS}
        errors: dict[str, str] = {}
        if form["category"] and form["category"] not in CATEGORIES:
            errors["category"] = f"Choose one of {', '.join(CATEGORIES)}."
        since = _day(form["since"], "since", errors)
        until = _day(form["until"], "until", errors)
        try:
            page = max(1, min(int(query.get("page", "1")), 10_000))
        except ValueError:
            page = 1
        records: list[Any] = []
        more = False
        if not errors:
            where = AuditFilter(
                category=form["category"] or None,
                action=form["action"] or None,
                user=form["user"] or None,
                result=form["result"] or None,
                # whole days in UTC; "until" includes its day
                since=datetime.combine(since, time(), UTC) if since else None,
                until=datetime.combine(until, time(), UTC) + timedelta(days=1) if until else None,
            )
            try:
                records, more = await audit_records(
                    runtime_of(request).db, community_id, where, page=page, size=PAGE_SIZE
                )
            except Invalid as invalid:
                errors["until"] = invalid.message
        kept = {k: v for k, v in form.items() if v}
        return render(
            request,
            "audit.html",
            {
                "form": form,
                "errors": errors,
                "records": records,
                "page": page,
                "categories": ("", *CATEGORIES),
                "newer": urlencode({**kept, "page": page - 1}) if page > 1 else None,
                "older": urlencode({**kept, "page": page + 1}) if more else None,
                "retention": runtime_of(request).settings.audit_retention_days,
            },
            status_code=422 if errors else 200,
        )
