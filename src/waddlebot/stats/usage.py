"""Reading usage statistics: the one function behind ``GET /api/stats/v1/…``, ``waddlebot
stats`` and the portal's overview chart.

Days before the roll-up's watermark (``usage_rollups.through``) come from the daily roll-ups,
later days from the raw execution log (``command_executions``), so a range may span both and
raw rows may be pruned once rolled up. Chat messages always come from ``message_counts``
(hourly, never pruned). "Active chatters" of a day are the distinct platform accounts that
said something (a chat line or a slash command), collected in the router's memory and written
once per account and day (``chatter_days``, ``router/activity.py``): no write per message.
An account linked to another platform's counts once per platform. "Command users" are the
distinct people (``user_id``) who ran a command.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from waddlebot.kernel.errors import Invalid
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import (
    ChatterDay,
    CommandExecution,
    CommandUsageDaily,
    CommunityUsageDaily,
    Entity,
    MessageCount,
    UsageRollup,
    utcnow,
)

MAX_DAYS = 366
DEFAULT_DAYS = 30
TOP = 10
ROLLUP = "daily"
# Outcome groups (status values of command_executions), as the chart stacks them.
GROUPS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("ok", "Answered", frozenset({"ok"})),
    ("refused", "Refused or rate-limited", frozenset({"refused", "limited"})),
    ("failed", "Failed", frozenset({"failed", "timeout", "unavailable", "abandoned"})),
)
Executor = AsyncSession | AsyncConnection


def outcome_group(status: str) -> str:
    for key, _title, members in GROUPS:
        if status in members:
            return key
    return "failed"


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def as_moment(value: object) -> datetime:
    """A timestamp read from either database as an aware UTC datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def as_day(value: object) -> date:
    if isinstance(value, datetime):
        return as_moment(value).date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def utc_day(column: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC day of a timestamp column, grouped in the database."""
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def utc_hour(column: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", column))
    return func.strftime("%Y-%m-%d %H:00:00", column)


@dataclass(frozen=True, slots=True)
class Runs:
    """Commands run, one group of the execution log or a roll-up row."""

    community_id: str
    day: date
    trigger: str
    module: str  # "" unknown
    platform: str  # "" unknown
    status: str
    runs: int


async def raw_runs(
    db: Executor, dialect: str, start: date, end: date, community_id: str | None = None
) -> list[Runs]:
    """The execution log grouped by community, day, command, module, platform and status for
    the days ``start`` ≤ day < ``end`` (one grouped query; the roll-up's source too)."""
    day = utc_day(CommandExecution.started_at, dialect)
    query = (
        select(
            CommandExecution.community_id,
            day,
            CommandExecution.trigger,
            func.coalesce(CommandExecution.module, ""),
            func.coalesce(Entity.platform, ""),
            CommandExecution.status,
            func.count(),
        )
        .outerjoin(Entity, Entity.id == CommandExecution.entity_id)
        .where(CommandExecution.started_at >= day_start(start))
        .where(CommandExecution.started_at < day_start(end))
        .group_by(
            CommandExecution.community_id,
            day,
            CommandExecution.trigger,
            CommandExecution.module,
            Entity.platform,
            CommandExecution.status,
        )
    )
    if community_id is None:
        query = query.where(CommandExecution.community_id.is_not(None))
    else:
        query = query.where(CommandExecution.community_id == community_id)
    rows = (await db.execute(query)).all()
    return [Runs(str(c), as_day(d), t, str(m), str(p), s, int(n)) for c, d, t, m, p, s, n in rows]


@dataclass(frozen=True, slots=True)
class People:
    """Distinct people of a community on a day."""

    community_id: str
    day: date
    chatters: int  # platform accounts that spoke (chat line or slash command)
    command_users: int  # people who ran a command


async def raw_people(
    db: Executor, dialect: str, start: date, end: date, community_id: str | None = None
) -> list[People]:
    """Active chatters (``chatter_days``) and command users (the execution log) per community
    and day, ``start`` ≤ day < ``end``: two grouped queries."""
    day = utc_day(CommandExecution.started_at, dialect)
    users = (
        select(CommandExecution.community_id, day, func.count(CommandExecution.user_id.distinct()))
        .where(CommandExecution.started_at >= day_start(start))
        .where(CommandExecution.started_at < day_start(end))
        .group_by(CommandExecution.community_id, day)
    )
    spoke = (
        select(ChatterDay.community_id, ChatterDay.day, func.count())
        .where(ChatterDay.day >= start, ChatterDay.day < end)
        .group_by(ChatterDay.community_id, ChatterDay.day)
    )
    if community_id is None:
        users = users.where(CommandExecution.community_id.is_not(None))
    else:
        users = users.where(CommandExecution.community_id == community_id)
        spoke = spoke.where(ChatterDay.community_id == community_id)
    found: dict[tuple[str, date], list[int]] = {}
    for c, d, n in (await db.execute(spoke)).all():
        found.setdefault((str(c), as_day(d)), [0, 0])[0] = int(n)
    for c, d, n in (await db.execute(users)).all():
        found.setdefault((str(c), as_day(d)), [0, 0])[1] = int(n)
    return [People(c, d, chatters, used) for (c, d), (chatters, used) in sorted(found.items())]


async def rolled_through(db: Executor) -> date | None:
    """The first day not rolled up yet (None: the roll-up never ran)."""
    value = await db.scalar(select(UsageRollup.through).where(UsageRollup.name == ROLLUP))
    return as_day(value) if value is not None else None


@dataclass
class DayUsage:
    day: date
    messages: int = 0
    chatters: int = 0  # distinct platform accounts that spoke
    command_users: int = 0  # distinct people who ran a command
    statuses: Counter[str] = field(default_factory=Counter)
    commands: Counter[tuple[str, str]] = field(default_factory=Counter)  # (trigger, platform)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def outcomes(self) -> dict[str, int]:
        grouped = {key: 0 for key, _t, _m in GROUPS}
        for status, runs in self.statuses.items():
            grouped[outcome_group(status)] += runs
        return grouped


@dataclass
class HourUsage:
    hour: datetime
    messages: int = 0
    statuses: Counter[str] = field(default_factory=Counter)


@dataclass
class Usage:
    """A community's usage for the UTC days ``start``…``end`` (both included)."""

    community_id: str
    start: date
    end: date
    days: list[DayUsage]
    triggers: Counter[tuple[str, str]] = field(default_factory=Counter)  # (trigger, module)
    modules: Counter[str] = field(default_factory=Counter)
    platforms: Counter[str] = field(default_factory=Counter)
    hours: list[HourUsage] = field(default_factory=list)  # only when asked (raw rows)

    @property
    def total(self) -> int:
        return sum(day.total for day in self.days)

    @property
    def messages(self) -> int:
        return sum(day.messages for day in self.days)

    def as_dict(self, top: int = TOP) -> dict[str, Any]:
        """The REST answer (and ``waddlebot stats --json``)."""
        return {
            "community_id": self.community_id,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "totals": {"commands": self.total, "messages": self.messages},
            "days": [
                {
                    "day": day.day.isoformat(),
                    "messages": day.messages,
                    "chatters": day.chatters,
                    "command_users": day.command_users,
                    "commands": day.total,
                    "outcomes": day.outcomes(),
                    "statuses": dict(sorted(day.statuses.items())),
                    "by_command": [
                        {"command": trigger, "platform": platform or None, "runs": runs}
                        for (trigger, platform), runs in sorted(
                            day.commands.items(), key=lambda item: (-item[1], item[0])
                        )
                    ],
                }
                for day in self.days
            ],
            "top_commands": [
                {"command": trigger, "module": module or None, "runs": runs}
                for (trigger, module), runs in _ranked(self.triggers)[:top]
            ],
            "modules": [
                {"module": module or None, "runs": runs} for module, runs in _ranked(self.modules)
            ],
            "platforms": [
                {"platform": platform or None, "runs": runs}
                for platform, runs in _ranked(self.platforms)
            ],
        }


def _ranked(counter: Counter[Any]) -> list[tuple[Any, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def checked_range(
    start: date | None, end: date | None, today: date | None = None
) -> tuple[date, date]:
    """The days asked for, defaults filled in (``to``: today, UTC; ``from``: 29 days before
    ``to``); a refusal (422) for a range that runs backwards or spans more than 366 days."""
    end = end or today or utcnow().date()
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise Invalid("from must not be after to.")
    if (end - start).days + 1 > MAX_DAYS:
        raise Invalid(f"Ask for at most {MAX_DAYS} days at a time.")
    return start, end


async def community_usage(
    db: Database, community_id: str, start: date, end: date, *, hourly: bool = False
) -> Usage:
    """Usage of ``community_id`` from ``start`` to ``end`` (UTC days, both included): roll-ups
    before the watermark, the execution log from it on, messages from ``message_counts``.
    ``hourly`` adds per-hour commands (by status) and messages — from raw rows only, so hours
    older than ``WADDLEBOT_EXECUTION_RETENTION_DAYS`` have no commands."""
    after = end + timedelta(days=1)
    days = {
        start + timedelta(days=n): DayUsage(start + timedelta(days=n))
        for n in range((after - start).days)
    }
    usage = Usage(community_id, start, end, list(days.values()))
    async with db.read_session() as session:
        through = await rolled_through(session) or start
        split = min(max(through, start), after)
        runs: list[Runs] = []
        people: list[People] = []
        if split > start:
            runs += await _rolled_runs(session, community_id, start, split)
            table = CommunityUsageDaily
            people += [
                People(community_id, as_day(d), int(chatters), int(users))
                for d, chatters, users in (
                    await session.execute(
                        select(table.day, table.chatters, table.command_users).where(
                            table.community_id == community_id,
                            table.day >= start,
                            table.day < split,
                        )
                    )
                ).all()
            ]
        if after > split:
            runs += await raw_runs(session, db.dialect, split, after, community_id)
            people += await raw_people(session, db.dialect, split, after, community_id)
        messages = (
            await session.execute(
                select(MessageCount.hour, MessageCount.count).where(
                    MessageCount.community_id == community_id,
                    MessageCount.hour >= day_start(start),
                    MessageCount.hour < day_start(after),
                )
            )
        ).all()
        if hourly:
            usage.hours = await _hours(session, db.dialect, community_id, start, after)
    for row in runs:
        day = days.get(row.day)
        if day is None:
            continue
        day.statuses[row.status] += row.runs
        day.commands[(row.trigger, row.platform)] += row.runs
        usage.triggers[(row.trigger, row.module)] += row.runs
        usage.modules[row.module] += row.runs
        usage.platforms[row.platform] += row.runs
    for seen in people:
        if seen.day in days:
            days[seen.day].chatters += seen.chatters
            days[seen.day].command_users += seen.command_users
    by_hour = {hour.hour: hour for hour in usage.hours}
    for hour, count in messages:
        moment = as_moment(hour)
        if moment.date() in days:
            days[moment.date()].messages += int(count)
        slot = by_hour.get(moment.replace(minute=0, second=0, microsecond=0))
        if slot is not None:
            slot.messages += int(count)
    return usage


async def _rolled_runs(
    session: AsyncSession, community_id: str, start: date, end: date
) -> list[Runs]:
    table = CommandUsageDaily
    rows = await session.execute(
        select(
            table.day, table.trigger, table.module, table.platform, table.status, table.runs
        ).where(table.community_id == community_id, table.day >= start, table.day < end)
    )
    return [Runs(community_id, as_day(d), t, m, p, s, int(n)) for d, t, m, p, s, n in rows.all()]


async def _hours(
    session: AsyncSession, dialect: str, community_id: str, start: date, end: date
) -> list[HourUsage]:
    first = day_start(start)
    hours = [HourUsage(first + timedelta(hours=n)) for n in range((end - start).days * 24)]
    key = utc_hour(CommandExecution.started_at, dialect)
    query = (
        select(key, CommandExecution.status, func.count())
        .where(CommandExecution.community_id == community_id)
        .where(CommandExecution.started_at >= first, CommandExecution.started_at < day_start(end))
        .group_by(key, CommandExecution.status)
    )
    for hour, status, count in (await session.execute(query)).all():
        index = int((as_moment(hour) - first).total_seconds() // 3600)
        if 0 <= index < len(hours):
            hours[index].statuses[status] += int(count)
    return hours
