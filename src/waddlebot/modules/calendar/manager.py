"""``EventBook``: every change to a community's calendar, for chat and REST alike.

Events are numbered per community (``#1``, ``#2``…). A proposal is *pending* unless its
proposer may approve it at once; approvers approve or reject it; the proposer or an approver
cancels it. An approved event gets one reminder job (``@on_schedule("remind")``, key
``event:<id>:remind``) in the channel it was proposed in; the outcome of a decision someone
else made is posted there too (``@on_schedule("notice")``), mentioning the proposer.

Order of writes: a reminder job is scheduled *before* the row that points at it is written
(an insert or a compare-and-set on the status), so a failure leaves at most a job whose
handler finds no approved event and stays silent — never an approved event without its job.
Cancelling writes the row first and then cancels the job, with the same fallback.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from waddlebot.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from waddlebot.kernel.storage.models import Community, Entity, User, as_utc
from waddlebot.modules.calendar.models import (
    APPROVED,
    CANCELLED,
    PENDING,
    REJECTED,
    STATUSES,
    CalendarEvent,
)
from waddlebot.modules.calendar.times import check_times
from waddlebot.sdk.database import ModuleDatabase, new_id, next_number, on_user_merge
from waddlebot.sdk.scheduling import JobOrigin, JobSpec, SchedulerOperations

MODULE = "calendar"
REMIND = "remind"
NOTICE = "notice"
DEFAULT_REMIND_MINUTES = 15
MAX_TITLE = 200
MAX_DESCRIPTION = 500
MAX_REASON = 300
NOTICE_GRACE = 7 * 86_400.0  # a notice waiting out an outage still goes out within a week
MAX_PENDING_PER_PROPOSER = 10


@dataclass(frozen=True, slots=True)
class Proposer:
    """Who proposes: their WaddleBot user (None for an operator key) and, from chat, the
    platform account the outcome notice mentions."""

    name: str
    user_id: str | None = None
    platform: str | None = None
    account: str | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    """A proposal, times already in UTC (see ``times.py``)."""

    title: str
    starts_at: datetime
    length: timedelta
    time_zone: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class EventInfo:
    """One event as chat and REST show it."""

    id: str
    community_id: str
    number: int
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    status: str
    proposed_by: str | None
    proposer_name: str
    proposer_platform: str | None
    proposer_account: str | None
    origin: JobOrigin | None
    decided_by: str | None
    reason: str | None
    reminder_job_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def label(self) -> str:
        """``#3 "Movie night"``: how replies name it."""
        return f'#{self.number} "{self.title}"'

    def mention(self, platform: str | None) -> str:
        """``@name`` of the proposer, when they proposed on ``platform`` (else their name)."""
        if platform is not None and self.proposer_platform == platform:
            return f"@{self.proposer_name}"
        return self.proposer_name


def _info(row: CalendarEvent) -> EventInfo:
    origin = None
    if row.origin_platform and row.origin_server_id is not None and row.origin_channel_id:
        origin = JobOrigin(
            platform=row.origin_platform,
            server_id=row.origin_server_id,
            channel_id=row.origin_channel_id,
            entity_id=row.origin_entity_id,
            channel_name=row.origin_channel_name,
        )
    return EventInfo(
        id=row.id,
        community_id=row.community_id,
        number=row.number,
        title=row.title,
        description=row.description,
        starts_at=as_utc(row.starts_at),
        ends_at=as_utc(row.ends_at),
        time_zone=row.time_zone,
        status=row.status,
        proposed_by=row.proposed_by,
        proposer_name=row.proposer_name,
        proposer_platform=row.proposer_platform,
        proposer_account=row.proposer_account,
        origin=origin,
        decided_by=row.decided_by,
        reason=row.reason,
        reminder_job_id=row.reminder_job_id,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def parse_number(text: str) -> int:
    """``3`` or ``#3`` → 3; an :class:`Invalid` otherwise."""
    clean = text.strip().removeprefix("#")
    if clean.isdigit() and 0 < len(clean) <= 9 and int(clean) > 0:
        return int(clean)
    raise Invalid(f"{text} is not an event number (like 3 or #3).")


def clean_text(text: str, what: str) -> str:
    """One line of text: whitespace runs collapsed; control characters (NUL…) and lone
    surrogates refused, as neither the databases nor the chat platforms take them."""
    clean = " ".join(text.split())
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in clean):
        raise Invalid(f"The {what} contains characters I cannot store.")
    return clean


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise Invalid(f"status is one of {', '.join(STATUSES)}")
    return status


class EventBook:
    """A community's events in the installation's database, with their jobs."""

    def __init__(self, db: ModuleDatabase, scheduler: SchedulerOperations) -> None:
        self.db = db
        self.scheduler = scheduler

    def now(self) -> datetime:
        """The scheduler's clock, so "in the past" and reminder times agree with it."""
        return self.scheduler.now()

    # --- reading --------------------------------------------------------------------------

    async def get(self, community_id: str, number: int) -> EventInfo:
        async with self.db.read_session() as session:
            row = await session.scalar(
                select(CalendarEvent).where(
                    CalendarEvent.community_id == community_id, CalendarEvent.number == number
                )
            )
        if row is None:
            raise NotFound(f"Event #{number} does not exist.")
        return _info(row)

    async def by_id(self, event_id: str) -> EventInfo | None:
        async with self.db.session() as session:  # the primary: a cancel counts at once
            row = await session.get(CalendarEvent, event_id)
        return None if row is None else _info(row)

    async def upcoming(self, community_id: str, *, limit: int = 50) -> list[EventInfo]:
        """Approved events not over yet, soonest first."""
        return await self._select(
            community_id, APPROVED, ends_after=self.now(), limit=limit, ascending=True
        )

    async def listing(
        self, community_id: str, status: str, *, limit: int = 100, upcoming: bool = True
    ) -> list[EventInfo]:
        """Events with ``status``: those not over yet soonest first, else the latest first."""
        check_status(status)
        if upcoming:
            return await self._select(
                community_id, status, ends_after=self.now(), limit=limit, ascending=True
            )
        return await self._select(community_id, status, limit=limit, ascending=False)

    async def feed(self, community_id: str, *, days_back: int = 30) -> list[EventInfo]:
        """Approved events for the iCalendar feed: ended at most ``days_back`` days ago."""
        since = self.now() - timedelta(days=days_back)
        return await self._select(community_id, APPROVED, ends_after=since, limit=2000)

    async def _select(
        self,
        community_id: str,
        status: str,
        *,
        ends_after: datetime | None = None,
        limit: int,
        ascending: bool = True,
    ) -> list[EventInfo]:
        query = select(CalendarEvent).where(
            CalendarEvent.community_id == community_id, CalendarEvent.status == status
        )
        if ends_after is not None:
            query = query.where(CalendarEvent.ends_at > ends_after)
        order = CalendarEvent.starts_at if ascending else CalendarEvent.starts_at.desc()
        query = query.order_by(order, CalendarEvent.number).limit(limit)
        async with self.db.read_session() as session:
            rows: Sequence[CalendarEvent] = (await session.scalars(query)).all()
        return [_info(row) for row in rows]

    # --- changing -------------------------------------------------------------------------

    async def propose(
        self,
        community_id: str,
        draft: Draft,
        proposer: Proposer,
        origin: JobOrigin | None,
        *,
        approved: bool,
        remind_minutes: int = DEFAULT_REMIND_MINUTES,
    ) -> EventInfo:
        """Store a proposal (approved at once when ``approved``) under the next number."""
        title = clean_text(draft.title, "title")
        description = clean_text(draft.description, "description")
        if not title:
            raise Invalid("An event needs a title.")
        if len(title) > MAX_TITLE:
            raise Invalid(f"An event's title is at most {MAX_TITLE} characters.")
        if len(description) > MAX_DESCRIPTION:
            raise Invalid(f"An event's description is at most {MAX_DESCRIPTION} characters.")
        now = self.now()
        try:
            starts_at = draft.starts_at.astimezone(UTC)
        except (OverflowError, ValueError):
            raise Invalid("That time is out of range.") from None
        check_times(starts_at, draft.length, now)
        async with self.db.read_session() as session:
            await _community(session, community_id)
            if not approved and proposer.user_id is not None:
                waiting = await session.scalar(
                    select(func.count())
                    .select_from(CalendarEvent)
                    .where(
                        CalendarEvent.community_id == community_id,
                        CalendarEvent.proposed_by == proposer.user_id,
                        CalendarEvent.status == PENDING,
                    )
                )
                if (waiting or 0) >= MAX_PENDING_PER_PROPOSER:
                    raise Conflict(
                        f"You have {waiting} events waiting for approval already; "
                        "wait until a moderator has looked at them."
                    )
        event_id = new_id()
        job_id = None
        if approved:
            job_id = await self._schedule_reminder(
                community_id, event_id, starts_at, origin, remind_minutes
            )
        async with self.db.session() as session:
            number = await next_number(session, community_id, "event")
            row = CalendarEvent(
                id=event_id,
                community_id=community_id,
                number=number,
                title=title,
                description=description,
                starts_at=starts_at,
                ends_at=starts_at + draft.length,
                time_zone=draft.time_zone,
                status=APPROVED if approved else PENDING,
                proposed_by=proposer.user_id,
                proposer_name=proposer.name[:200],
                proposer_platform=proposer.platform,
                proposer_account=proposer.account,
                decided_by=proposer.user_id if approved else None,
                decided_at=now if approved else None,
                reminder_job_id=job_id,
                **_origin_columns(origin),
            )
            session.add(row)
        return _info(row)

    async def decide(
        self,
        community_id: str,
        number: int,
        *,
        approve: bool,
        decider: str | None,
        reason: str = "",
        remind_minutes: int = DEFAULT_REMIND_MINUTES,
    ) -> EventInfo:
        """Approve or reject a pending event (a compare-and-set: one decision wins)."""
        reason = clean_text(reason, "reason")
        if len(reason) > MAX_REASON:
            raise Invalid(f"A reason is at most {MAX_REASON} characters.")
        event = await self.get(community_id, number)
        if event.status != PENDING:
            raise Conflict(f"Event {event.label} is {event.status} already.")
        job_id = None
        if approve:
            if event.starts_at <= self.now():
                raise Conflict(f"Event {event.label} has already started; it cannot be approved.")
            job_id = await self._schedule_reminder(
                community_id, event.id, event.starts_at, event.origin, remind_minutes
            )
        async with self.db.session() as session:
            result = await session.execute(
                update(CalendarEvent)
                .where(CalendarEvent.id == event.id, CalendarEvent.status == PENDING)
                .values(
                    status=APPROVED if approve else REJECTED,
                    decided_by=decider,
                    decided_at=self.now(),
                    reason=reason or None,
                    reminder_job_id=job_id,
                    updated_at=self.now(),
                )
            )
            won = _rowcount(result) == 1
        if not won:
            latest = await self.get(community_id, number)
            if job_id is not None and job_id != latest.reminder_job_id:
                await self.scheduler.cancel(MODULE, community_id, job_id)
            raise Conflict(f"Event {latest.label} is {latest.status} already.")
        return await self.get(community_id, number)

    async def cancel(
        self, community_id: str, number: int, *, who: str | None, may_approve: bool
    ) -> EventInfo:
        """Cancel a pending or approved event: its proposer may, and so may approvers."""
        event = await self.get(community_id, number)
        if not may_approve and (who is None or who != event.proposed_by):
            raise Forbidden(
                f"Only whoever proposed event #{number} or someone with calendar.approve "
                "can cancel it."
            )
        if event.status not in (PENDING, APPROVED):
            raise Conflict(f"Event {event.label} is {event.status} already.")
        async with self.db.session() as session:
            result = await session.execute(
                update(CalendarEvent)
                .where(CalendarEvent.id == event.id, CalendarEvent.status == event.status)
                .values(
                    status=CANCELLED, decided_by=who, decided_at=self.now(), updated_at=self.now()
                )
            )
            if _rowcount(result) != 1:
                raise Conflict(f"Event {event.label} changed meanwhile; look at it again.")
        if event.reminder_job_id:
            await self.scheduler.cancel(MODULE, community_id, event.reminder_job_id)
        return await self.get(community_id, number)

    async def notify(self, event: EventInfo, text: str) -> str | None:
        """Post ``text`` into the event's channel soon (a job: it survives restarts and works
        from REST, where there is no channel to answer in). None when it has no channel."""
        if event.origin is None:
            return None
        return await self.scheduler.schedule(
            JobSpec(
                module=MODULE,
                community_id=event.community_id,
                handler=NOTICE,
                due_at=self.now(),
                payload={"text": text},
                origin=event.origin,
                grace=NOTICE_GRACE,
            )
        )

    async def _schedule_reminder(
        self,
        community_id: str,
        event_id: str,
        starts_at: datetime,
        origin: JobOrigin | None,
        remind_minutes: int,
    ) -> str | None:
        """The reminder job, ``remind_minutes`` before the start (now when that has passed);
        None without a channel, with reminders off, or when the event starts now."""
        if origin is None or remind_minutes <= 0:
            return None
        now = self.now()
        due = max(starts_at - timedelta(minutes=remind_minutes), now)
        if due >= starts_at:
            return None
        return await self.scheduler.schedule(
            JobSpec(
                module=MODULE,
                community_id=community_id,
                handler=REMIND,
                due_at=due,
                payload={"event": event_id},
                origin=origin,
                # pointless once the event has started: dropped rather than posted late
                grace=max((starts_at - due).total_seconds(), 60.0),
                key=f"event:{event_id}:remind",
            )
        )


# --- helpers for the REST side (a channel and settings chat gets from the request) ------


async def community_settings(
    db: ModuleDatabase, community_id: str, default_zone: str
) -> tuple[str, str]:
    """The community's name and time zone (``default_zone`` when it has none)."""
    async with db.read_session() as session:
        row = await _community(session, community_id)
        return row.name, row.timezone or default_zone


async def channel_origin(
    db: ModuleDatabase, community_id: str, entity_id: str | None
) -> JobOrigin | None:
    """Where reminders of a REST proposal go: the named channel of the community, else its
    first channel; None when it has none (the event gets no reminder)."""
    query = select(Entity).where(Entity.community_id == community_id)
    if entity_id is not None:
        query = query.where(Entity.id == entity_id)
    async with db.read_session() as session:
        row = await session.scalar(query.order_by(Entity.created_at, Entity.id).limit(1))
    if row is None:
        if entity_id is not None:
            raise Invalid("channel is not one of this community's channels")
        return None
    return JobOrigin(
        platform=row.platform,
        server_id=row.server_id,
        channel_id=row.channel_id,
        entity_id=row.id,
        channel_name=row.name,
    )


async def person_name(db: ModuleDatabase, user_id: str | None, fallback: str) -> str:
    """How a REST proposer is named in chat: their display name, else the key's name."""
    if user_id is None:
        return fallback
    async with db.read_session() as session:
        name = await session.scalar(select(User.display_name).where(User.id == user_id))
    return name or fallback


async def remind_minutes_of(db: ModuleDatabase, community_id: str) -> int:
    """The community's ``remind_minutes`` (module configuration), for REST callers."""
    from waddlebot.marketplace.models import ModuleInstall

    async with db.read_session() as session:
        config = await session.scalar(
            select(ModuleInstall.config).where(
                ModuleInstall.community_id == community_id, ModuleInstall.module_name == MODULE
            )
        )
    return remind_minutes(config or {})


def remind_minutes(config: dict[str, Any]) -> int:
    value = config.get("remind_minutes", DEFAULT_REMIND_MINUTES)
    return (
        value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_REMIND_MINUTES
    )


async def _community(session: AsyncSession, community_id: str) -> Community:
    row = await session.get(Community, community_id)
    if row is None:
        raise NotFound("That community does not exist.")
    return row


def _origin_columns(origin: JobOrigin | None) -> dict[str, Any]:
    if origin is None:
        return {}
    return {
        "origin_platform": origin.platform,
        "origin_server_id": origin.server_id,
        "origin_channel_id": origin.channel_id,
        "origin_channel_name": origin.channel_name,
        "origin_entity_id": origin.entity_id,
    }


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


@on_user_merge
async def _follow_merged_user(session: AsyncSession, absorbed: str, kept: str) -> None:
    """Events proposed or decided by an absorbed user now belong to the kept one."""
    for column in (CalendarEvent.proposed_by, CalendarEvent.decided_by):
        await session.execute(
            update(CalendarEvent).where(column == absorbed).values({column.key: kept})
        )
