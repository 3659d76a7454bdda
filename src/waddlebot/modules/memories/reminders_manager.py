"""All of the reminders' data logic, shared by chat (``!remind``, ``!reminders``), the
scheduled delivery and the REST routes: one class, one transaction per change.

Every state change is a compare-and-set on ``status`` (``pending`` → ``delivered`` or
``cancelled``), so a reminder is delivered at most once even when its job runs again (a
retried or reclaimed job) and a cancelled one never fires.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from waddlebot.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from waddlebot.kernel.storage.models import as_utc
from waddlebot.modules.memories.models_reminders import (
    CANCELLED,
    DELIVERED,
    MAX_TEXT,
    PENDING,
    Reminder,
)
from waddlebot.sdk.database import ModuleDatabase, next_number, on_user_merge

MAX_PENDING = 20  # per person who sets them, per community
MAX_NUMBER = 2**31 - 1  # reminders.number is a 32-bit integer


@dataclass(frozen=True, slots=True)
class Target:
    """Whom a reminder is for: their WaddleBot user and the account to mention/whisper."""

    user_id: str
    platform: str
    platform_user_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Origin:
    """The channel a reminder was set in (and is delivered to)."""

    platform: str
    server_id: str
    channel_id: str
    channel_name: str | None


@dataclass(frozen=True, slots=True)
class ReminderDraft:
    """A reminder ready to store; ``id`` and ``job_id`` are chosen before (job first)."""

    id: str
    community_id: str
    set_by: str
    set_by_name: str
    target: Target
    origin: Origin
    due_at: datetime
    time_zone: str
    text: str
    private: bool
    job_id: str


@dataclass(frozen=True, slots=True)
class ReminderInfo:
    """A stored reminder."""

    id: str
    community_id: str
    number: int
    set_by: str
    set_by_name: str
    target: Target
    origin: Origin
    due_at: datetime
    time_zone: str
    text: str
    private: bool
    job_id: str | None
    status: str
    created_at: datetime

    @property
    def for_self(self) -> bool:
        return self.set_by == self.target.user_id


class NotWrittenYet(Exception):
    """A job found no row for its reminder: ``!remind`` schedules the job before it writes
    the row, so the row may still be on its way (or its writer crashed)."""


def check_text(text: str) -> str:
    """The reminder's text, stripped; a refusal when empty or longer than ``MAX_TEXT``."""
    clean = text.strip()
    if not clean:
        raise Invalid("What should I remind you of? Add the text after the time.")
    if len(clean) > MAX_TEXT:
        raise Invalid(f"A reminder is at most {MAX_TEXT} characters (this one has {len(clean)}).")
    return clean


class ReminderBook:
    """A community's reminders in the ``reminders`` table."""

    def __init__(self, db: ModuleDatabase) -> None:
        self.db = db

    async def room_for(self, community_id: str, set_by: str) -> None:
        """Refuse before anything is scheduled when ``set_by`` has ``MAX_PENDING`` pending."""
        async with self.db.read_session() as session:
            await self._check_room(session, community_id, set_by)

    async def add(self, draft: ReminderDraft) -> ReminderInfo:
        """Store a reminder under the community's next number (the limit checked again in the
        same transaction)."""
        text = check_text(draft.text)
        async with self.db.session() as session:
            # the counter row is locked until commit: concurrent adds of a community queue up
            # here, so the limit below counts what the others committed
            number = await next_number(session, draft.community_id, "reminder")
            await self._check_room(session, draft.community_id, draft.set_by)
            row = Reminder(
                id=draft.id,
                community_id=draft.community_id,
                number=number,
                set_by=draft.set_by,
                set_by_name=draft.set_by_name[:200],
                target_user_id=draft.target.user_id,
                target_platform=draft.target.platform,
                target_platform_user_id=draft.target.platform_user_id,
                target_name=draft.target.name[:200],
                origin_platform=draft.origin.platform,
                origin_server_id=draft.origin.server_id,
                origin_channel_id=draft.origin.channel_id,
                origin_channel_name=draft.origin.channel_name,
                due_at=draft.due_at.astimezone(UTC),
                time_zone=draft.time_zone,
                text=text,
                private=draft.private,
                job_id=draft.job_id,
                status=PENDING,
            )
            session.add(row)
            await session.flush()
            return _info(row)

    async def pending(
        self, community_id: str, *, set_by: str | None = None, involving: str | None = None
    ) -> list[ReminderInfo]:
        """Pending reminders, soonest first: all, those ``set_by`` someone, or those
        ``involving`` someone (set by them or for them)."""
        query = select(Reminder).where(
            Reminder.community_id == community_id, Reminder.status == PENDING
        )
        if set_by is not None:
            query = query.where(Reminder.set_by == set_by)
        if involving is not None:
            query = query.where(
                or_(Reminder.set_by == involving, Reminder.target_user_id == involving)
            )
        async with self.db.read_session() as session:
            rows: Sequence[Reminder] = (
                await session.scalars(query.order_by(Reminder.due_at, Reminder.number))
            ).all()
        return [_info(row) for row in rows]

    async def get(self, community_id: str, number: int) -> ReminderInfo:
        if not 1 <= number <= MAX_NUMBER:
            raise NotFound(f"Reminder #{number} does not exist.")
        async with self.db.read_session() as session:
            row = await session.scalar(
                select(Reminder).where(
                    Reminder.community_id == community_id, Reminder.number == number
                )
            )
        if row is None:
            raise NotFound(f"Reminder #{number} does not exist.")
        return _info(row)

    async def cancel(
        self, community_id: str, number: int, who: str | None, *, may_manage: bool
    ) -> ReminderInfo:
        """Cancel reminder ``number``: its setter may, and anyone who ``may_manage``
        (``memories.manage``). The caller cancels the job afterwards; a job that runs anyway
        finds the reminder cancelled and stays silent."""
        if not 1 <= number <= MAX_NUMBER:
            raise NotFound(f"Reminder #{number} does not exist.")
        async with self.db.session() as session:
            row = await session.scalar(
                select(Reminder).where(
                    Reminder.community_id == community_id, Reminder.number == number
                )
            )
            if row is None:
                raise NotFound(f"Reminder #{number} does not exist.")
            if row.set_by != who and not may_manage:
                raise Forbidden(f"Reminder #{number} is not yours to cancel.")
            if row.status != PENDING:
                raise Conflict(f"Reminder #{number} was {row.status} already.")
            changed = await session.execute(
                update(Reminder)
                .where(Reminder.id == row.id, Reminder.status == PENDING)
                .values(status=CANCELLED)
                .execution_options(synchronize_session=False)
            )
            if _rowcount(changed) != 1:
                raise Conflict(f"Reminder #{number} was delivered or cancelled just now.")
            info = _info(row)
        return _replace_status(info, CANCELLED)

    async def deliver(
        self, community_id: str, reminder_id: str, job_id: str
    ) -> ReminderInfo | None:
        """Mark the reminder delivered and return it, exactly once; None when its job should
        stay silent (cancelled, delivered already, or not this reminder's job).
        :class:`NotWrittenYet` when there is no such row."""
        async with self.db.session() as session:
            row = await session.scalar(
                select(Reminder).where(
                    Reminder.id == reminder_id, Reminder.community_id == community_id
                )
            )
            if row is None:
                raise NotWrittenYet(reminder_id)
            if row.status != PENDING or row.job_id != job_id:
                return None
            changed = await session.execute(
                update(Reminder)
                .where(Reminder.id == reminder_id, Reminder.status == PENDING)
                .values(status=DELIVERED)
                .execution_options(synchronize_session=False)
            )
            if _rowcount(changed) != 1:
                return None
            info = _info(row)
        return _replace_status(info, DELIVERED)

    async def _check_room(self, session: AsyncSession, community_id: str, set_by: str) -> None:
        count = await session.scalar(
            select(func.count())
            .select_from(Reminder)
            .where(
                Reminder.community_id == community_id,
                Reminder.set_by == set_by,
                Reminder.status == PENDING,
            )
        )
        if (count or 0) >= MAX_PENDING:
            raise Conflict(
                f"You have {MAX_PENDING} reminders pending already; "
                "cancel one first (!reminders, !reminders cancel N)."
            )


@on_user_merge
async def follow_merged_user(session: AsyncSession, absorbed: str, kept: str) -> None:
    """Reminders set by or for the absorbed user now belong to the one kept (numbers are per
    community, so nothing collides)."""
    await session.execute(update(Reminder).where(Reminder.set_by == absorbed).values(set_by=kept))
    await session.execute(
        update(Reminder).where(Reminder.target_user_id == absorbed).values(target_user_id=kept)
    )


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _info(row: Reminder) -> ReminderInfo:
    return ReminderInfo(
        id=row.id,
        community_id=row.community_id,
        number=row.number,
        set_by=row.set_by,
        set_by_name=row.set_by_name,
        target=Target(
            user_id=row.target_user_id,
            platform=row.target_platform,
            platform_user_id=row.target_platform_user_id,
            name=row.target_name,
        ),
        origin=Origin(
            platform=row.origin_platform,
            server_id=row.origin_server_id,
            channel_id=row.origin_channel_id,
            channel_name=row.origin_channel_name,
        ),
        due_at=as_utc(row.due_at),
        time_zone=row.time_zone,
        text=row.text,
        private=row.private,
        job_id=row.job_id,
        status=row.status,
        created_at=as_utc(row.created_at),
    )


def _replace_status(info: ReminderInfo, status: str) -> ReminderInfo:
    return replace(info, status=status)
