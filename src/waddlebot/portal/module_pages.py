"""The portal's pages for interaction modules: calendar approval queue, shoutout settings.

Each page needs the permission the module's REST API asks for its writes, and calls the same
manager the module's routes call (one validation: a refusal is shown next to its field). The
module managers use the router's host services (scheduler, labels…), so these pages need the
router service in the same process (``waddlebot up``); served alone, they say so (503) rather
than failing half-way.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request, Response, status

from waddlebot.kernel.errors import Conflict, Forbidden, Invalid
from waddlebot.portal.web import (
    Who,
    audit,
    enter_community,
    one,
    read_form,
    redirect,
    render,
    runtime_of,
)

CALENDAR = "calendar.approve"
SHOUTOUTS = "shoutouts.manage"


NOTICES = {
    "approved": "Approved event {name}.",
    "rejected": "Rejected event {name}.",
    "cancelled": "Cancelled event {name}.",
    "feed-rotated": "New feed URL; the old one stopped working.",
    "feed-revoked": "Revoked the feed URL; opening this page issues a new one.",
    "shoutouts-saved": "Saved the shoutout settings.",
}


def _notice(request: Request) -> str | None:
    template = NOTICES.get(request.query_params.get("notice", ""))
    if template is None:
        return None
    return template.format(name=request.query_params.get("name", "")[:60])


def _done(request: Request, path: str, notice: str, name: str = "") -> Response:
    return redirect(request, f"{path}?{urlencode({'notice': notice, 'name': name[:60]})}")


def _needs_router(request: Request) -> Response | None:
    """The notice page when the router (and so the module host) is not in this process."""
    if runtime_of(request).module_host is not None:
        return None
    return render(
        request,
        "modules_pages/needs_router.html",
        {},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )


def _number(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such event.") from None
    if not 1 <= number <= 2**31 - 1:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such event.")
    return number


def add_interaction_pages(api: APIRouter) -> None:
    """Add the interaction modules' pages to the portal's router."""

    # --- calendar ----------------------------------------------------------------------

    async def _calendar_page(
        request: Request,
        community_id: str,
        *,
        errors: dict[str, str] | None = None,
        reasons: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        from waddlebot.modules.calendar.api import _book, _tokens, _zone
        from waddlebot.modules.calendar.models import APPROVED, PENDING

        book = _book(request)
        zone = ZoneInfo(await _zone(request, community_id))
        pending = await book.listing(community_id, PENDING, limit=100, upcoming=True)
        approved = await book.listing(community_id, APPROVED, limit=100, upcoming=True)
        return render(
            request,
            "modules_pages/calendar.html",
            {
                "pending": pending,
                "approved": approved,
                "zone": zone,
                "feed": await _tokens(request).url(community_id),
                "errors": errors or {},
                "reasons": reasons or {},
                "notice": _notice(request),
            },
            status_code=status_code,
        )

    @api.get("/c/{community_id}/calendar")
    async def calendar(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, CALENDAR)
        return _needs_router(request) or await _calendar_page(request, community_id)

    @api.post("/c/{community_id}/calendar/{number}/{action}")
    async def decide_event(
        community_id: str, number: str, action: str, request: Request, viewer: Who
    ) -> Response:
        """Approve, reject (with a reason) or cancel an event, as the REST routes do."""
        from waddlebot.modules.calendar.api import _book, _tell_proposer
        from waddlebot.modules.calendar.manager import remind_minutes_of
        from waddlebot.sdk import web

        await enter_community(request, viewer, community_id, CALENDAR)
        fields = await read_form(request)
        if action not in ("approve", "reject", "cancel"):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such action.")
        blocked = _needs_router(request)
        if blocked is not None:
            return blocked
        event = _number(number)
        book = _book(request)
        reason = one(fields, "reason", 400)
        field = f"event-{event}"
        try:
            if action == "approve":
                info = await book.decide(
                    community_id,
                    event,
                    approve=True,
                    decider=viewer.user_id,
                    remind_minutes=await remind_minutes_of(web.database(request), community_id),
                )
                await _tell_proposer(request, book, info, "is approved")
            elif action == "reject":
                info = await book.decide(
                    community_id, event, approve=False, decider=viewer.user_id, reason=reason
                )
                outcome = f"was not approved: {info.reason}" if info.reason else "was not approved"
                await _tell_proposer(request, book, info, outcome)
            else:
                info = await book.cancel(community_id, event, who=viewer.user_id, may_approve=True)
                if info.proposed_by != viewer.user_id:
                    await _tell_proposer(request, book, info, "is cancelled")
        except (Invalid, Conflict, Forbidden) as refused:
            audit(request, f"calendar_{action}", "refused", community=community_id, event=event)
            return await _calendar_page(
                request,
                community_id,
                errors={field: refused.message},
                reasons={field: reason},
                status_code=refused.status,
            )
        audit(request, f"calendar_{action}", community=community_id, event=event)
        notice = {"approve": "approved", "reject": "rejected", "cancel": "cancelled"}[action]
        return _done(request, f"/c/{community_id}/calendar", notice, info.label)

    @api.post("/c/{community_id}/calendar-feed/{action}")
    async def feed(community_id: str, action: str, request: Request, viewer: Who) -> Response:
        """Rotate or revoke the iCalendar feed URL (the REST ``/feed`` routes)."""
        from waddlebot.modules.calendar.api import _tokens

        await enter_community(request, viewer, community_id, CALENDAR)
        await read_form(request)
        if action == "rotate":
            await _tokens(request).rotate(community_id)
        elif action == "revoke":
            await _tokens(request).revoke(community_id)
        else:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such action.")
        audit(request, f"calendar_feed_{action}", community=community_id)
        return _done(request, f"/c/{community_id}/calendar", f"feed-{action}d")

    # --- shoutouts ---------------------------------------------------------------------

    async def _shoutouts_page(
        request: Request,
        community_id: str,
        *,
        form: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        if form is None:
            current = await (await _shoutout_manager(request, community_id)).current()
            form = {
                "template": current.template,
                "auto_on_raid": current.auto_on_raid,
                "raid_min_viewers": str(current.raid_min_viewers),
            }
        from waddlebot.modules.shoutouts.settings import ALLOWED

        return render(
            request,
            "modules_pages/shoutouts.html",
            {
                "form": form,
                "errors": errors or {},
                "placeholders": ALLOWED,
                "notice": _notice(request),
            },
            status_code=status_code,
        )

    @api.get("/c/{community_id}/shoutouts")
    async def shoutouts(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, SHOUTOUTS)
        return await _shoutouts_page(request, community_id)

    @api.post("/c/{community_id}/shoutouts")
    async def save_shoutouts(community_id: str, request: Request, viewer: Who) -> Response:
        from waddlebot.modules.shoutouts.settings import check_min_viewers, check_template

        await enter_community(request, viewer, community_id, SHOUTOUTS)
        fields = await read_form(request)
        form: dict[str, Any] = {
            "template": one(fields, "template", 2000),
            "auto_on_raid": one(fields, "auto_on_raid") == "on",
            "raid_min_viewers": one(fields, "raid_min_viewers", 20).strip(),
        }
        errors: dict[str, str] = {}
        try:
            check_template(form["template"])
        except Invalid as bad:
            errors["template"] = bad.message
        viewers = 0
        try:
            viewers = check_min_viewers(int(form["raid_min_viewers"]))
        except ValueError:
            errors["raid_min_viewers"] = "The raid minimum is a whole number of viewers, 0 or more."
        except Invalid as bad:
            errors["raid_min_viewers"] = bad.message
        if not errors:
            manager = await _shoutout_manager(request, community_id)
            await manager.change(
                {
                    "template": form["template"],
                    "auto_on_raid": form["auto_on_raid"],
                    "raid_min_viewers": viewers,
                }
            )
            audit(request, "shoutouts_settings", community=community_id)
            return _done(request, f"/c/{community_id}/shoutouts", "shoutouts-saved")
        audit(request, "shoutouts_settings", "refused", community=community_id)
        return await _shoutouts_page(
            request,
            community_id,
            form=form,
            errors=errors,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )


async def _shoutout_manager(request: Request, community_id: str) -> Any:
    """The same manager (and 404 for an unknown community) as the shoutouts REST API."""
    from waddlebot.modules.shoutouts.api import _manager

    return await _manager(request, community_id)
