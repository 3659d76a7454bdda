"""The daily roll-up of the execution log, and the retention prune of its raw rows.

Every router process runs :meth:`UsageRollups.run`: once an hour it rolls up each finished UTC
day (finished = midnight plus ``grace``, so rows still waiting in a router's group commit or
chat counts are in) and then deletes raw ``command_executions`` rows older than
``WADDLEBOT_EXECUTION_RETENTION_DAYS`` — never a row of a day not yet rolled up. One day's
roll-up is one transaction whose first statement moves the watermark ``usage_rollups.through``
from that day to the next by compare-and-set: a second process rolling up the same day finds
the watermark moved and does nothing, and a crash in the middle leaves nothing half done. The
roll-up deletes the day's roll-up rows before it inserts them, so running it again
(``rebuild``) gives the same rows.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import (
    ChatterDay,
    CommandExecution,
    CommandUsageDaily,
    CommunityUsageDaily,
    UsageRollup,
    utcnow,
)
from waddlebot.kernel.supervision import every
from waddlebot.stats.usage import (
    ROLLUP,
    as_day,
    as_moment,
    day_start,
    raw_people,
    raw_runs,
    rolled_through,
)

logger = get_logger(__name__)
GRACE = timedelta(hours=2)
INTERVAL = 3600.0


class UsageRollups:
    """Rolls up finished days and prunes raw rows (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        retention_days: int = 90,
        grace: timedelta = GRACE,
        interval: float = INTERVAL,
    ) -> None:
        self.db = db
        self.retention = timedelta(days=retention_days)
        self.grace = grace
        self.interval = interval

    async def run(self) -> None:
        """The loop a router spawns (supervised: a database outage ends it and it restarts;
        statistics never fail readiness — other errors are logged and retried next pass)."""
        await every(self.interval, self.one_pass, action="usage_rollup", wait_first=False)

    async def one_pass(self) -> None:
        rolled = await self.roll_up()
        pruned = await self.prune()
        if rolled or pruned:
            log_event(logger, Category.SYSTEM, "usage_rollup", "ok", days=rolled, pruned=pruned)

    async def roll_up(self, now: datetime | None = None) -> int:
        """Roll up every finished day not rolled up yet; returns how many this process did."""
        now = now or utcnow()
        through = await self._watermark(now)
        done = 0
        while day_start(through) + timedelta(days=1) + self.grace <= now:
            if await self.roll_day(through):
                done += 1
            async with self.db.session() as session:
                through = await rolled_through(session) or through
        return done

    async def roll_day(self, day: date) -> bool:
        """Roll up ``day`` if the watermark stands on it; False when another process did."""
        after = day + timedelta(days=1)
        async with self.db.engine.begin() as connection:
            moved = await connection.execute(
                update(UsageRollup)
                .where(UsageRollup.name == ROLLUP, UsageRollup.through == day)
                .values(through=after, updated_at=utcnow())
            )
            if moved.rowcount != 1:
                return False
            await self._write_day(connection, day)
        return True

    async def rebuild(self, day: date) -> None:
        """Roll up an already rolled-up ``day`` again from its raw rows (same rows twice)."""
        async with self.db.engine.begin() as connection:
            await self._write_day(connection, day)

    async def prune(self, now: datetime | None = None) -> int:
        """Delete raw execution rows older than the retention and rolled up; one day per
        statement so no delete holds locks for long. Returns how many rows went."""
        now = now or utcnow()
        async with self.db.session() as session:
            through = await rolled_through(session)
            oldest = await session.scalar(select(func.min(CommandExecution.started_at)))
        if through is None:
            return 0
        cutoff = min(day_start(through), day_start((now - self.retention).date()))
        async with self.db.engine.begin() as connection:
            await connection.execute(delete(ChatterDay).where(ChatterDay.day < cutoff.date()))
        if oldest is None:
            return 0
        deleted = 0
        edge = day_start(as_moment(oldest).date())
        while edge < cutoff:
            edge = min(edge + timedelta(days=1), cutoff)
            async with self.db.engine.begin() as connection:
                result = await connection.execute(
                    delete(CommandExecution).where(CommandExecution.started_at < edge)
                )
            deleted += int(getattr(result, "rowcount", 0) or 0)
        return deleted

    async def _watermark(self, now: datetime) -> date:
        """The first day to roll up; on the first run the oldest day in the log (or today)."""
        async with self.db.session() as session:
            through = await rolled_through(session)
            if through is not None:
                return through
            oldest = await session.scalar(select(func.min(CommandExecution.started_at)))
            spoke = await session.scalar(select(func.min(ChatterDay.day)))
            first = min(
                as_moment(oldest).date() if oldest is not None else now.date(),
                as_day(spoke) if spoke is not None else now.date(),
            )
            upsert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
            await session.execute(
                upsert(UsageRollup)
                .values(name=ROLLUP, through=first, updated_at=utcnow())
                .on_conflict_do_nothing(index_elements=["name"])
            )
            return await rolled_through(session) or first

    async def _write_day(self, connection: AsyncConnection, day: date) -> None:
        after = day + timedelta(days=1)
        await connection.execute(delete(CommandUsageDaily).where(CommandUsageDaily.day == day))
        await connection.execute(delete(CommunityUsageDaily).where(CommunityUsageDaily.day == day))
        runs = await raw_runs(connection, self.db.dialect, day, after)
        if runs:
            await connection.execute(
                insert(CommandUsageDaily),
                [
                    {
                        "community_id": r.community_id,
                        "day": day,
                        "trigger": r.trigger,
                        "module": r.module,
                        "platform": r.platform,
                        "status": r.status,
                        "runs": r.runs,
                    }
                    for r in runs
                ],
            )
        people = await raw_people(connection, self.db.dialect, day, after)
        if people:
            await connection.execute(
                insert(CommunityUsageDaily),
                [
                    {
                        "community_id": p.community_id,
                        "day": day,
                        "chatters": p.chatters,
                        "command_users": p.command_users,
                    }
                    for p in people
                ],
            )
