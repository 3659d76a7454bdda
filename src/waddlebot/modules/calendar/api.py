"""The calendar over REST (``/api/calendar/v1``, mounted by the router service) and the
iCalendar feed a calendar app subscribes to.

Same rules as chat: members read approved events and propose (pending unless they hold
``calendar.autoapprove``); ``calendar.approve`` approves, rejects, sees pending events,
cancels any event and manages the feed URL; a proposer cancels their own.
``GET /feeds/{token}.ics`` is open by design: the token in the URL is the credential.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field

from waddlebot.kernel.errors import NotFound
from waddlebot.kernel.security.http import authorize_principal, require_member
from waddlebot.modules.calendar.commands import APPROVER, module
from waddlebot.modules.calendar.feed import MEDIA_TYPE, FeedTokens, calendar_document
from waddlebot.modules.calendar.manager import (
    Draft,
    EventBook,
    EventInfo,
    Proposer,
    channel_origin,
    check_status,
    community_settings,
    person_name,
    remind_minutes_of,
)
from waddlebot.modules.calendar.models import APPROVED, STATUSES
from waddlebot.modules.calendar.times import length_text, when
from waddlebot.sdk import web
from waddlebot.sdk.clock import wall_clock
from waddlebot.sdk.web import WRITE_SCOPE, Principal, Reader, needs

api = module.api()

Writer = Annotated[Principal, Depends(require_member(WRITE_SCOPE))]
Approver = Annotated[Principal, needs(APPROVER)]
Number = Annotated[int, Path(ge=1, le=2**31 - 1, description="the event's number (`#3`)")]


class EventOut(BaseModel):
    """An event: times in UTC, and its start as people in its zone read it."""

    id: str = Field(description="Stable id (the feed's UID is `<id>@waddlebot`).")
    number: int = Field(description="Per-community number, as chat names it (`!event 3`).")
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    local_start: datetime = Field(description="starts_at in time_zone, with its UTC offset")
    status: str
    proposed_by: str | None
    proposer_name: str
    reason: str | None


class ProposeIn(BaseModel):
    """A proposal. A ``starts_at`` without an offset is the community's wall-clock time."""

    title: str = Field(min_length=1, max_length=200)
    starts_at: datetime
    duration_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    description: str = Field(default="", max_length=500)
    channel: str | None = Field(
        default=None,
        max_length=32,
        description="Entity id of the community channel reminders go to (default: its first).",
    )


class RejectIn(BaseModel):
    reason: str = Field(default="", max_length=300)


class FeedOut(BaseModel):
    url: str


class RevokedOut(BaseModel):
    revoked: bool


def _out(info: EventInfo) -> EventOut:
    return EventOut(
        id=info.id,
        number=info.number,
        title=info.title,
        description=info.description,
        starts_at=info.starts_at,
        ends_at=info.ends_at,
        time_zone=info.time_zone,
        local_start=info.starts_at.astimezone(ZoneInfo(info.time_zone)),
        status=info.status,
        proposed_by=info.proposed_by,
        proposer_name=info.proposer_name,
        reason=info.reason,
    )


def event_book(request: Request) -> EventBook:
    return EventBook(web.database(request), web.scheduler(request))


async def _holds(request: Request, who: Principal, community_id: str, permission: str) -> bool:
    try:
        await authorize_principal(request, who, community_id, permission)
    except HTTPException:
        return False
    return True


async def community_zone(request: Request, community_id: str) -> str:
    _, zone = await community_settings(
        web.database(request), community_id, web.settings(request).default_timezone
    )
    return zone


async def tell_proposer(request: Request, book: EventBook, info: EventInfo, outcome: str) -> None:
    """The outcome, posted into the channel the event was proposed in (see commands.py)."""
    if info.origin is None:
        return
    zone = await community_zone(request, info.community_id)
    line = (
        f"{info.label} {when(info.starts_at, zone)} ({length_text(info.starts_at, info.ends_at)})"
    )
    await book.notify(info, f"{info.mention(info.origin.platform)}, your event {line} {outcome}.")


@api.get("/communities/{community_id}/events")
async def list_events(
    community_id: str,
    request: Request,
    who: Reader,
    status: Annotated[str, Query(description=f"one of {', '.join(STATUSES)}")] = APPROVED,
    past: Annotated[bool, Query(description="include events that are over, latest first")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[EventOut]:
    """Approved events not over yet, soonest first; other statuses need calendar.approve."""
    check_status(status)
    if status != APPROVED:
        await authorize_principal(request, who, community_id, APPROVER)
    found = await event_book(request).listing(community_id, status, limit=limit, upcoming=not past)
    return [_out(info) for info in found]


@api.get("/communities/{community_id}/events/{number}")
async def show_event(community_id: str, number: Number, request: Request, who: Reader) -> EventOut:
    info = await event_book(request).get(community_id, number)
    if (
        info.status != APPROVED
        and (who.user_id is None or who.user_id != info.proposed_by)
        and not await _holds(request, who, community_id, APPROVER)
    ):
        raise NotFound(f"Event #{number} does not exist.")
    return _out(info)


@api.post("/communities/{community_id}/events", status_code=201)
async def propose_event(
    community_id: str, body: ProposeIn, request: Request, who: Writer
) -> EventOut:
    """Propose an event: approved at once with calendar.autoapprove, else pending."""
    db = web.database(request)
    zone = await community_zone(request, community_id)
    starts_at = body.starts_at
    if starts_at.tzinfo is None or starts_at.utcoffset() is None:
        starts_at = wall_clock(starts_at, ZoneInfo(zone)).at
    book = event_book(request)
    info = await book.propose(
        community_id,
        Draft(
            title=body.title,
            starts_at=starts_at,
            length=timedelta(minutes=body.duration_minutes),
            time_zone=zone,
            description=body.description,
        ),
        Proposer(name=await person_name(db, who.user_id, who.name), user_id=who.user_id),
        await channel_origin(db, community_id, body.channel),
        approved=await _holds(request, who, community_id, "calendar.autoapprove"),
        remind_minutes=await remind_minutes_of(db, community_id),
    )
    return _out(info)


@api.post("/communities/{community_id}/events/{number}/approve")
async def approve_event(
    community_id: str, number: Number, request: Request, who: Approver
) -> EventOut:
    book = event_book(request)
    info = await book.decide(
        community_id,
        number,
        approve=True,
        decider=who.user_id,
        remind_minutes=await remind_minutes_of(web.database(request), community_id),
    )
    await tell_proposer(request, book, info, "is approved")
    return _out(info)


@api.post("/communities/{community_id}/events/{number}/reject")
async def reject_event(
    community_id: str,
    number: Number,
    request: Request,
    who: Approver,
    body: RejectIn | None = None,
) -> EventOut:
    book = event_book(request)
    reason = body.reason if body is not None else ""
    info = await book.decide(
        community_id, number, approve=False, decider=who.user_id, reason=reason
    )
    outcome = f"was not approved: {info.reason}" if info.reason else "was not approved"
    await tell_proposer(request, book, info, outcome)
    return _out(info)


@api.delete("/communities/{community_id}/events/{number}")
async def cancel_event(
    community_id: str, number: Number, request: Request, who: Writer
) -> EventOut:
    """Cancel: the proposer their own event, calendar.approve any."""
    book = event_book(request)
    info = await book.get(community_id, number)
    mine = who.user_id is not None and who.user_id == info.proposed_by
    may_approve = not mine and await _holds(request, who, community_id, APPROVER)
    info = await book.cancel(community_id, number, who=who.user_id, may_approve=may_approve)
    if not mine:
        await tell_proposer(request, book, info, "is cancelled")
    return _out(info)


def feed_tokens(request: Request) -> FeedTokens:
    settings = web.settings(request)
    return FeedTokens(web.database(request), settings.secret_box, settings.public_url)


@api.get("/communities/{community_id}/feed")
async def feed_url(community_id: str, request: Request, _: Approver) -> FeedOut:
    """The community's iCalendar feed URL (issued on first ask). It is a credential."""
    return FeedOut(url=await feed_tokens(request).url(community_id))


@api.post("/communities/{community_id}/feed/rotate")
async def rotate_feed(community_id: str, request: Request, _: Approver) -> FeedOut:
    """A new feed URL; the old one answers 404 from now on."""
    return FeedOut(url=await feed_tokens(request).rotate(community_id))


@api.delete("/communities/{community_id}/feed")
async def revoke_feed(community_id: str, request: Request, _: Approver) -> RevokedOut:
    """Kill the feed URL (asking for it again issues a new one)."""
    return RevokedOut(revoked=await feed_tokens(request).revoke(community_id))


@api.get(
    "/feeds/{token}.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, 404: {"description": "unknown token"}},
)
async def calendar_feed(token: str, request: Request) -> Response:
    """The iCalendar feed (RFC 5545): approved events from 30 days ago on, times in UTC.
    No login: the token is the credential; an unknown or revoked one answers 404."""
    community_id = await feed_tokens(request).resolve(token)
    if community_id is None:
        raise NotFound("No such calendar feed.")
    settings = web.settings(request)
    name, zone = await community_settings(
        web.database(request), community_id, settings.default_timezone
    )
    book = event_book(request)
    body = calendar_document(name, zone, await book.feed(community_id), generated=book.now())
    return Response(
        body,
        media_type=MEDIA_TYPE,
        headers={
            "Cache-Control": "private, max-age=300",
            "Content-Disposition": 'inline; filename="calendar.ics"',
            "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex",
        },
    )
