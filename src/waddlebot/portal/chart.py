"""The overview's chart: chat messages and commands per hour over the last 7 days.

Read through :func:`waddlebot.stats.usage.community_usage`, the function behind the usage
statistics API and ``waddlebot stats``: commands per hour by outcome from the execution log,
chat messages per hour from ``message_counts`` (filled by the router in batches from counts kept
in memory; no write per message), and the daily totals (active chatters included). It is
drawn server-side as an inline SVG: stacked bars for commands, a line for messages, no
script, nothing for the Content-Security-Policy to allow, readable with JavaScript off, and a
table of daily totals next to it for screen readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import utcnow
from waddlebot.stats.usage import GROUPS, community_usage, outcome_group

HOURS = 7 * 24
COLOURS = {"ok": "#1f7a3d", "refused": "#9a6700", "failed": "#b42318", "messages": "#1d4ed8"}
WIDTH, HEIGHT, BAR = 672, 160, 4  # one 4-unit bar per hour


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


async def command_chart(db: Database, community_id: str, now: datetime | None = None) -> Chart:
    """Commands per hour by outcome and chat messages per hour, for the 7 days (168 hours)
    up to ``now``, read through the usage statistics' one function (the REST API's and the
    CLI's); the daily table below the chart is that function's days, chatters included."""
    end = (now or utcnow()).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=HOURS - 1)
    usage = await community_usage(db, community_id, start.date(), end.date(), hourly=True)
    chart = Chart(start=start, hours=[{g: 0 for g, _t, _m in GROUPS} for _ in range(HOURS)])
    for slot in usage.hours:
        index = int((slot.hour - start).total_seconds() // 3600)
        if 0 <= index < HOURS:
            chart.messages[index] = slot.messages
            for status, runs in slot.statuses.items():
                chart.hours[index][outcome_group(status)] += runs
    chart.days = [
        (day.day.isoformat(), {"messages": day.messages, "chatters": day.chatters} | day.outcomes())
        for day in usage.days
    ]
    _draw(chart)
    return chart


def _draw(chart: Chart) -> None:
    """Bars and the messages line, on one scale for both series."""
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
