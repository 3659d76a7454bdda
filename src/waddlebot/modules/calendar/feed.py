"""A community's iCalendar feed: the token in its URL, and the RFC 5545 document.

The URL (``<public url>/api/calendar/v1/feeds/<token>.ics``) is the credential, as overlay
URLs are: calendar apps subscribe to it without logging in. A token is 256 random bits;
look-ups go through its SHA-256, and the token itself is kept encrypted under the
installation's secret box so the URL can be shown again. Rotating replaces it (the old URL
answers 404 at once); revoking deletes it (a new one is issued when the URL is asked for).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from waddlebot import __version__
from waddlebot.kernel.errors import NotFound
from waddlebot.kernel.security.secrets_box import SecretBox
from waddlebot.kernel.storage.models import Community
from waddlebot.modules.calendar.manager import EventInfo
from waddlebot.modules.calendar.models import CalendarFeedToken
from waddlebot.sdk.database import ModuleDatabase

TOKEN_BYTES = 32
MAX_TOKEN = 100
FEED_PATH = "/api/calendar/v1/feeds/"
MEDIA_TYPE = "text/calendar; charset=utf-8"
PRODID = f"-//WaddleBot//Calendar {__version__}//EN"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}{FEED_PATH}{token}.ics"


class FeedTokens:
    """Issue, find, rotate and revoke a community's feed token."""

    def __init__(self, db: ModuleDatabase, box: SecretBox, public_url: str) -> None:
        self.db = db
        self.box = box
        self.public_url = public_url

    async def resolve(self, token: str) -> str | None:
        """The community a live token opens, or None."""
        if not token or len(token) > MAX_TOKEN:
            return None
        async with self.db.session() as session:  # the primary: a rotation counts at once
            found: str | None = await session.scalar(
                select(CalendarFeedToken.community_id).where(
                    CalendarFeedToken.token_hash == token_hash(token)
                )
            )
        return found

    async def url(self, community_id: str) -> str:
        """The feed URL, issuing a token when the community has none."""
        async with self.db.session() as session:
            await _community(session, community_id)
            sealed = await session.scalar(
                select(CalendarFeedToken.token_sealed).where(
                    CalendarFeedToken.community_id == community_id
                )
            )
        if sealed is not None:
            return feed_url(self.public_url, self.box.decrypt(sealed))
        token = secrets.token_urlsafe(TOKEN_BYTES)
        try:
            async with self.db.session() as session:
                session.add(self._row(community_id, token))
        except IntegrityError:
            return await self.url(community_id)  # another process issued one first: theirs
        return feed_url(self.public_url, token)

    async def rotate(self, community_id: str) -> str:
        """A new URL; the old one stops working at once."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        async with self.db.session() as session:
            await _community(session, community_id)
            row = await session.scalar(
                select(CalendarFeedToken).where(CalendarFeedToken.community_id == community_id)
            )
            if row is None:
                session.add(self._row(community_id, token))
            else:
                row.token_hash = token_hash(token)
                row.token_sealed = self.box.encrypt(token)
        return feed_url(self.public_url, token)

    async def revoke(self, community_id: str) -> bool:
        """Kill the URL without a new one; False when there was none."""
        async with self.db.session() as session:
            result = await session.execute(
                delete(CalendarFeedToken).where(CalendarFeedToken.community_id == community_id)
            )
        return bool(getattr(result, "rowcount", 0))

    def _row(self, community_id: str, token: str) -> CalendarFeedToken:
        return CalendarFeedToken(
            community_id=community_id,
            token_hash=token_hash(token),
            token_sealed=self.box.encrypt(token),
        )


async def _community(session: AsyncSession, community_id: str) -> None:
    if await session.get(Community, community_id) is None:
        raise NotFound("That community does not exist.")


def calendar_document(
    name: str, time_zone: str, events: list[EventInfo], *, generated: datetime
) -> bytes:
    """The feed as RFC 5545 text: one VEVENT per event, times in UTC, UID stable per event;
    the library escapes and folds every text value."""
    from icalendar import Calendar, Event  # loaded when a feed is first fetched (~3 MiB)

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"{name} events")
    calendar.add("x-wr-timezone", time_zone)
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    for info in events:
        event = Event()
        event.add("uid", f"{info.id}@waddlebot")
        event.add("dtstamp", generated.astimezone(UTC))
        event.add("created", info.created_at.astimezone(UTC))
        event.add("last-modified", info.updated_at.astimezone(UTC))
        event.add("dtstart", info.starts_at.astimezone(UTC))
        event.add("dtend", info.ends_at.astimezone(UTC))
        event.add("summary", info.title)
        if info.description:
            event.add("description", info.description)
        event.add("status", "CONFIRMED")
        event.add("transp", "OPAQUE")
        calendar.add_component(event)
    document: bytes = calendar.to_ical()
    return document
