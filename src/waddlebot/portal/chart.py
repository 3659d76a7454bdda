"""The overview's chart: chat messages and commands per hour over the last 7 days.

Commands come from the execution log (``command_executions``) by outcome; chat messages from
``message_counts``, which the router fills in batches from counts kept in memory (no write
per message; ``router/activity.py``). It is drawn server-side as an inline SVG: stacked bars
for commands, a line for messages, no script, nothing for the Content-Security-Policy to
allow, readable with JavaScript off, and a table of daily totals next to it for screen
readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select

from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import CommandExecution, MessageCount, utcnow

HOURS = 7 * 24
# Outcome groups of the chart (status values of command_executions), bottom to top.
GROUPS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("ok", "Answered", frozenset({"ok"})),
    ("refused", "Refused or rate-limited", frozenset({"refused", "limited"})),
    (
        "failed",
        "Failed",
        frozenset({"failed", "timeout", "unavailable", "abandoned"}),
    ),
)
COLOURS = {"ok": "#1f7a3d", "refused": "#9a6700", "failed": "#b42318", "messages": "#1d4ed8"}
WIDTH, HEIGHT, BAR = 672, 160, 4  # one 4-unit bar per hour


def _group(status: str) -> str:
    for key, _title, members in GROUPS:
        if status in members:
            return key
    return "failed"


@dataclass
class Bar:
    x: int
    parts: list[tuple[str, int, float, float]]  # group, count, y, height
    hour: datetime
    total: int
    messages: int = 0


@dataclass
class Chart:
    """Hourly counts by outcome group, and what the template needs to draw them."""

    start: datetime
    hours: list[dict[str, int]]
    messages: list[int] = field(default_factory=lambda: [0] * HOURS)
    peak: int = 0
    line: str = ""  # the messages' polyline points
    bars: list[Bar] = field(default_factory=list)
    days: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    groups: tuple[tuple[str, str, frozenset[str]], ...] = GROUPS
    colours: dict[str, str] = field(default_factory=lambda: dict(COLOURS))

    @property
    def total(self) -> int:
        return sum(sum(hour.values()) for hour in self.hours)

    @property
    def total_messages(self) -> int:
        return sum(self.messages)

    @property
    def day_ticks(self) -> list[tuple[int, str]]:
        """x and label of each midnight (UTC) inside the window."""
        ticks = []
        for index in range(HOURS):
            moment = self.start + timedelta(hours=index)
            if moment.hour == 0:
                ticks.append((index * BAR, moment.strftime("%a %d")))
        return ticks


def _hour_key(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.date_trunc("hour", CommandExecution.started_at)
    return func.strftime("%Y-%m-%d %H:00:00", CommandExecution.started_at)


def _as_hour(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def command_chart(db: Database, community_id: str, now: datetime | None = None) -> Chart:
    """Commands per hour by outcome and chat messages per hour, for the 7 days (168 hours)
    up to ``now``: one grouped query on the (community_id, started_at) index, one range
    read of at most 168 rows of ``message_counts``."""
    end = (now or utcnow()).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=HOURS - 1)
    key = _hour_key(db.dialect)
    query = (
        select(key, CommandExecution.status, func.count())
        .where(CommandExecution.community_id == community_id)
        .where(CommandExecution.started_at >= start)
        .group_by(key, CommandExecution.status)
    )
    chart = Chart(start=start, hours=[{g: 0 for g, _t, _m in GROUPS} for _ in range(HOURS)])
    async with db.read_session() as session:
        for hour, status, count in (await session.execute(query)).all():
            index = _index(start, hour)
            if 0 <= index < HOURS:
                chart.hours[index][_group(status)] += int(count)
        for hour, count in (
            await session.execute(
                select(MessageCount.hour, MessageCount.count).where(
                    MessageCount.community_id == community_id, MessageCount.hour >= start
                )
            )
        ).all():
            index = _index(start, hour)
            if 0 <= index < HOURS:
                chart.messages[index] += int(count)
    _draw(chart)
    return chart


def _index(start: datetime, hour: object) -> int:
    return int((_as_hour(hour) - start).total_seconds() // 3600)


def _draw(chart: Chart) -> None:
    """Bars, the messages line and the daily totals, on one scale for both series."""
    start = chart.start
    chart.peak = max([sum(h.values()) for h in chart.hours] + chart.messages)
    scale = (HEIGHT - 4) / chart.peak if chart.peak else 0.0
    for index, counts in enumerate(chart.hours):
        y = float(HEIGHT)
        parts = []
        for group, _title, _members in GROUPS:
            if counts[group]:
                height = max(counts[group] * scale, 1.0)
                y -= height
                parts.append((group, counts[group], round(y, 2), round(height, 2)))
        chart.bars.append(
            Bar(
                x=index * BAR,
                parts=parts,
                hour=start + timedelta(hours=index),
                total=sum(counts.values()),
                messages=chart.messages[index],
            )
        )
    chart.line = " ".join(
        f"{index * BAR + BAR / 2:g},{round(HEIGHT - count * scale, 2):g}"
        for index, count in enumerate(chart.messages)
    )
    by_day: dict[str, dict[str, int]] = {}
    for index, counts in enumerate(chart.hours):
        day = (start + timedelta(hours=index)).strftime("%Y-%m-%d")
        totals = by_day.setdefault(day, {"messages": 0} | {g: 0 for g, _t, _m in GROUPS})
        totals["messages"] += chart.messages[index]
        for group, count in counts.items():
            totals[group] += count
    chart.days = list(by_day.items())
