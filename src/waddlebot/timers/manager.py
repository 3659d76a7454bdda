"""Timers' rows and rules: what ``!timer`` changes and what each firing asks.

- add/remove/on/off check ``commands.manage`` (the router checked it already; this is the
  host's own word), are logged (AUDIT) and refuse an interval below
  ``WADDLEBOT_TIMER_MIN_INTERVAL``;
- :meth:`TimerManager.claim` wins a firing slot with one compare-and-set ``UPDATE``, so a slot
  speaks once even when two processes (or a reclaimed job) run it;
- :meth:`TimerManager.run_as_creator` queues the timer's ``!command`` on the router's event
  queue as the creator would have typed it, with an event id per slot (the workers' dedupe
  makes a second copy a no-op), so aliases, permissions, cooldowns and rate limits apply.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from waddlebot.identity.lookup import user_of_account
from waddlebot.kernel.backends import Backend
from waddlebot.kernel.backends.announce import commands_changed
from waddlebot.kernel.contracts import Event, EventType, Platform, UserRef
from waddlebot.kernel.contracts.names import EVENTS_QUEUE, chat_lines_key
from waddlebot.kernel.contracts.roles import platform_role
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.security.rbac import Actor, Authorizer
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Entity, PlatformIdentity
from waddlebot.router.parser import parse_command
from waddlebot.sdk.caller import Caller
from waddlebot.sdk.timers import (
    NO_STREAM,
    TimerDraft,
    TimerError,
    TimerInfo,
    format_duration,
    is_command,
)
from waddlebot.timers.models import Timer

logger = get_logger(__name__)

MAX_TIMERS = 100  # per community
MAX_INTERVAL = 7 * 86_400.0
MAX_LINES = 10_000
MAX_CONTENT = 500
NAME = re.compile(r"^\w[\w-]{0,49}$")


async def line_counted_entities(db: Database) -> list[str]:
    """Channels with an enabled ``--lines`` timer: the only ones whose chat lines are counted."""
    async with db.read_session() as session:
        rows = await session.scalars(
            select(Timer.entity_id).where(Timer.enabled.is_(True), Timer.min_lines > 0).distinct()
        )
        return list(rows)


class TimerManager:
    """Implements :class:`waddlebot.sdk.timers.TimerOperations` over the ``timers`` table."""

    def __init__(
        self, db: Database, backend: Backend, *, min_interval: float, queue_max: int
    ) -> None:
        self.db = db
        self.backend = backend
        self._min_interval = min_interval
        self.queue_max = queue_max
        self.authorizer = Authorizer(db, backend.kv)

    @property
    def min_interval(self) -> float:
        return self._min_interval

    async def timers(self, community_id: str) -> list[TimerInfo]:
        async with self.db.read_session() as session:
            rows = await session.scalars(
                select(Timer).where(Timer.community_id == community_id).order_by(Timer.name)
            )
            return [_info(row) for row in rows]

    async def add(self, community_id: str, caller: Caller, draft: TimerDraft) -> TimerInfo:
        self._check(draft)
        user_id = await self._authorised(community_id, caller)
        return await self._insert(community_id, user_id, caller.user, draft)

    async def add_by(
        self, community_id: str, user_id: str, draft: TimerDraft
    ) -> tuple[TimerInfo, Entity]:
        """For the portal: ``user_id`` acts (the route checked commands.manage). A
        ``!command`` timer runs as their linked account on the channel's platform (refused
        without one). The channel must be this community's. The caller starts its chain
        (as after :meth:`switch_on_by`)."""
        self._check(draft)
        entity, creator = await self._place(community_id, user_id, draft)
        return await self._insert(community_id, user_id, creator, draft), entity

    async def update_by(
        self, community_id: str, user_id: str, draft: TimerDraft
    ) -> tuple[TimerInfo, TimerInfo, Entity]:
        """For the portal: change the timer ``draft.name`` to the draft (the route checked
        commands.manage), with the rules of :meth:`add_by`; a ``!command`` timer then runs
        as the editor's account. Returns it before (its ``job_id`` is for cancelling) and
        after; an enabled timer starts a new generation, whose chain the caller starts."""
        self._check(draft)
        entity, creator = await self._place(community_id, user_id, draft)
        async with self.db.session() as session:
            row = await self._row(session, community_id, draft.name)
            before = _info(row)
            row.entity_id = entity.id
            row.interval_seconds = draft.interval
            row.min_lines = draft.lines
            row.online_only = draft.online_only
            row.content = draft.content.strip()
            if creator is not None:
                row.creator = creator.model_dump(mode="json")
            if row.enabled:
                row.generation += 1
                row.last_slot = 0
                row.job_id = None
            await session.flush()
            after = _info(row)
        self._audit("timer_edited", community_id, user_id, after.name, interval=draft.interval)
        await self._lines_changed()
        return before, after, entity

    async def _place(
        self, community_id: str, user_id: str, draft: TimerDraft
    ) -> tuple[Entity, UserRef | None]:
        """The draft's channel (this community's) and the user's account there, which a
        ``!command`` timer needs."""
        async with self.db.read_session() as session:
            entity = await session.get(Entity, draft.entity_id)
        if entity is None or entity.community_id != community_id:
            raise TimerError("Pick one of this community's channels.", field="channel")
        if draft.online_only and entity.platform in NO_STREAM:
            raise TimerError(
                f"Only while live needs a stream; {entity.platform} has none.", field="online_only"
            )
        creator = await _account_of(self.db, user_id, entity)
        if creator is None and is_command(draft.content):
            raise TimerError(
                f"A !command timer runs as your {entity.platform} account: link one under "
                "My account, or say !timer add in that channel.",
                field="content",
            )
        return entity, creator

    def _check(self, draft: TimerDraft) -> None:
        """The rules of a draft, for chat and the portal alike (``field`` names the part)."""
        if not NAME.match(draft.name.strip().lower()):
            raise TimerError("A timer name is 1-50 letters, digits, _ or -.", field="name")
        if not self._min_interval <= draft.interval <= MAX_INTERVAL:
            raise TimerError(
                f"A timer's interval is {format_duration(self._min_interval)} to "
                f"{format_duration(MAX_INTERVAL)}.",
                field="interval",
            )
        if not 0 <= draft.lines <= MAX_LINES:
            raise TimerError(f"--lines is 0 to {MAX_LINES}.", field="lines")
        content = draft.content.strip()
        if not content:
            raise TimerError("Say what the timer posts: a message or a !command.", field="content")
        if len(content) > MAX_CONTENT:
            raise TimerError(
                f"A timer's message is at most {MAX_CONTENT} characters.", field="content"
            )
        if is_command(content) and parse_command(content) is None:
            raise TimerError(f"{content.split()[0]} is not a command.", field="content")

    async def _insert(
        self, community_id: str, user_id: str, creator: UserRef | None, draft: TimerDraft
    ) -> TimerInfo:
        name = draft.name.strip().lower()
        row = Timer(
            community_id=community_id,
            entity_id=draft.entity_id,
            name=name,
            interval_seconds=draft.interval,
            min_lines=draft.lines,
            online_only=draft.online_only,
            content=draft.content.strip(),
            enabled=True,
            generation=1,
            last_slot=0,
            creator=creator.model_dump(mode="json") if creator else {},
            created_by=user_id,
        )
        try:
            async with self.db.session() as session:
                count = await session.scalar(
                    select(func.count())
                    .select_from(Timer)
                    .where(Timer.community_id == community_id)
                )
                if (count or 0) >= MAX_TIMERS:
                    raise TimerError(f"A community has at most {MAX_TIMERS} timers.")
                session.add(row)
        except IntegrityError:
            raise TimerError(f"There is a timer {name} here already.", field="name") from None
        self._audit("timer_added", community_id, user_id, name, interval=draft.interval)
        await self._lines_changed()
        return _info(row)

    async def remove(self, community_id: str, caller: Caller, name: str) -> TimerInfo:
        user_id = await self._authorised(community_id, caller)
        return await self.remove_by(community_id, user_id, name)

    async def remove_by(self, community_id: str, user_id: str | None, name: str) -> TimerInfo:
        """For the portal and REST: ``user_id`` acts (the route checked commands.manage).
        The caller cancels the returned ``job_id`` (the chain also stops by itself: its
        next slot finds no row)."""
        async with self.db.session() as session:
            row = await self._row(session, community_id, name)
            removed = _info(row)
            await session.delete(row)
        self._audit("timer_removed", community_id, user_id, removed.name)
        await self._lines_changed()
        return removed

    async def switch(
        self, community_id: str, caller: Caller, name: str, enabled: bool, entity_id: str
    ) -> TimerInfo:
        user_id = await self._authorised(community_id, caller)
        return await self._switch(community_id, user_id, name, enabled, entity_id)

    async def switch_off_by(self, community_id: str, user_id: str | None, name: str) -> TimerInfo:
        """For the portal and REST: switch a timer off (the route checked commands.manage).
        Switching *on* needs a channel and the timers module's scheduled chain, which only
        chat (``!timer on``) starts today."""
        return await self._switch(community_id, user_id, name, False, "")

    async def switch_on_by(
        self, community_id: str, user_id: str | None, name: str
    ) -> tuple[TimerInfo, Entity]:
        """For the portal: switch a timer on again in the channel it last ran in (the route
        checked commands.manage). The caller starts its chain (``portal/aliases_timers.py``
        schedules the timers module's first slot there, as ``!timer on`` does)."""
        async with self.db.read_session() as session:
            found = (
                await session.execute(
                    select(Entity)
                    .join(Timer, Timer.entity_id == Entity.id)
                    .where(Timer.community_id == community_id, Timer.name == name.strip().lower())
                )
            ).scalar_one_or_none()
        if found is None:
            raise TimerError(f"There is no timer {name.strip().lower()} here.")
        info = await self._switch(community_id, user_id, name, True, found.id)
        return info, found

    async def _switch(
        self, community_id: str, user_id: str | None, name: str, enabled: bool, entity_id: str
    ) -> TimerInfo:
        async with self.db.session() as session:
            row = await self._row(session, community_id, name)
            before = _info(row)
            if row.enabled == enabled:
                raise TimerError(f"Timer {row.name} is {'on' if enabled else 'off'} already.")
            row.enabled = enabled
            row.job_id = None
            if enabled:
                row.generation += 1
                row.last_slot = 0
                row.entity_id = entity_id
            await session.flush()
            after = _info(row)
        self._audit("timer_on" if enabled else "timer_off", community_id, user_id, after.name)
        await self._lines_changed()
        return after if enabled else before

    async def _lines_changed(self) -> None:
        """Routers count chat lines only in channels with a ``--lines`` timer (loaded with the
        command table): have every router reload it."""
        await commands_changed(self.backend.kv, self.backend.pubsub, "timers")

    async def attach(self, community_id: str, timer_id: str, job_id: str) -> None:
        async with self.db.session() as session:
            await session.execute(
                update(Timer)
                .where(Timer.id == timer_id, Timer.community_id == community_id)
                .values(job_id=job_id)
            )

    async def claim(
        self, community_id: str, timer_id: str, generation: int, slot: int
    ) -> tuple[TimerInfo | None, bool]:
        current = (
            Timer.id == timer_id,
            Timer.community_id == community_id,
            Timer.generation == generation,
            Timer.enabled.is_(True),
        )
        async with self.db.session() as session:
            won = await session.execute(
                update(Timer)
                .execution_options(synchronize_session=False)
                .where(*current, Timer.last_slot < slot)
                .values(last_slot=slot)
            )
            row = await session.scalar(select(Timer).where(*current))
            info = None if row is None else _info(row)
        return info, info is not None and getattr(won, "rowcount", 0) == 1

    async def chat_lines(self, entity_id: str) -> int:
        raw = await self.backend.kv.get(chat_lines_key(entity_id))
        return int(raw) if raw else 0

    async def run_as_creator(self, community_id: str, timer_id: str, slot: int) -> None:
        async with self.db.read_session() as session:
            found = (
                await session.execute(
                    select(Timer, Entity)
                    .join(Entity, Entity.id == Timer.entity_id)
                    .where(Timer.id == timer_id, Timer.community_id == community_id)
                )
            ).first()
        if found is None:
            return
        timer, entity = found
        event = Event(
            id=f"timer-{timer.id}-{timer.generation}-{slot}",
            type=EventType.scheduled,
            platform=Platform(entity.platform),
            server_id=entity.server_id,
            channel_id=entity.channel_id,
            channel_name=entity.name,
            user=UserRef.model_validate(timer.creator),
            text=timer.content,
            data={"timer": timer.name},
        )
        await self.backend.queues.put(
            EVENTS_QUEUE, [event.model_dump_json().encode()], max_length=self.queue_max
        )

    async def _row(self, session: AsyncSession, community_id: str, name: str) -> Timer:
        row = await session.scalar(
            select(Timer).where(
                Timer.community_id == community_id, Timer.name == name.strip().lower()
            )
        )
        if row is None:
            raise TimerError(f"There is no timer {name.strip().lower()} here.")
        return row

    async def _authorised(self, community_id: str, caller: Caller) -> str:
        user_id = await user_of_account(self.db, caller.platform, caller.user.id)
        if user_id is None:
            raise TimerError("I don't know you yet; say something and try again.")
        decision = await self.authorizer.check(
            Actor(user_id=user_id, platform_role=platform_role(caller.user), via="chat"),
            community_id,
            "timer",
            permission="commands.manage",
        )
        if not decision.allowed:
            raise TimerError("You need the commands.manage permission in this community.")
        return user_id

    def _audit(
        self,
        action: str,
        community_id: str,
        user_id: str | None,
        name: str,
        interval: float = 0.0,
    ) -> None:
        log_event(
            logger,
            Category.AUDIT,
            action,
            "ok",
            community=community_id,
            user=user_id,
            timer=name,
            interval=interval or None,
        )


async def _account_of(db: Database, user_id: str, entity: Entity) -> UserRef | None:
    """The user's linked account on the channel's platform (in its workspace, for Slack)."""
    async with db.read_session() as session:
        accounts = list(
            await session.scalars(
                select(PlatformIdentity)
                .where(
                    PlatformIdentity.user_id == user_id,
                    PlatformIdentity.platform == entity.platform,
                )
                .order_by(PlatformIdentity.created_at)
            )
        )
    here = [a for a in accounts if a.server_id in (None, entity.server_id)] or accounts
    if not here:
        return None
    return UserRef(id=here[0].platform_user_id, name=here[0].username)


def _info(row: Timer) -> TimerInfo:
    return TimerInfo(
        id=row.id,
        name=row.name,
        interval=row.interval_seconds,
        lines=row.min_lines,
        online_only=row.online_only,
        content=row.content,
        enabled=row.enabled,
        generation=row.generation,
        last_slot=row.last_slot,
        job_id=row.job_id,
        entity_id=row.entity_id,
    )
