"""The overview's chart and platform health, read from tables that already exist.

The chart is commands per hour over the last 7 days by outcome, from the execution log
(``command_executions``). Plain chat messages are not logged anywhere (only command events
are), so there is no messages series. It is drawn server-side as an inline SVG: no script,
nothing for the Content-Security-Policy to allow, readable with JavaScript off, and a table
of daily totals next to it for screen readers.

Platform health: for each channel of the community, what the collectors' own tables say:
Twitch (the channel's row and its EventSub subscriptions' statuses), Slack (whether the
workspace's installation is stored), Discord (no stored state: the guild id only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select

from waddlebot.collectors.slack.models import SlackInstallation
from waddlebot.collectors.twitch.models import TwitchChannel, TwitchSubscription
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import CommandExecution, Entity, utcnow

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
COLOURS = {"ok": "#1f7a3d", "refused": "#9a6700", "failed": "#b42318"}
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


@dataclass
class Chart:
    """Hourly counts by outcome group, and what the template needs to draw them."""

    start: datetime
    hours: list[dict[str, int]]
    peak: int = 0
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
    """Commands per hour by outcome for the 7 days (168 hours) up to ``now``; one grouped
    query on the (community_id, started_at) index."""
    end = (now or utcnow()).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=HOURS - 1)
    key = _hour_key(db.dialect)
    query = (
        select(key, CommandExecution.status, func.count())
        .where(CommandExecution.community_id == community_id)
        .where(CommandExecution.started_at >= start)
        .group_by(key, CommandExecution.status)
    )
    hours: list[dict[str, int]] = [{g: 0 for g, _t, _m in GROUPS} for _ in range(HOURS)]
    async with db.read_session() as session:
        for hour, status, count in (await session.execute(query)).all():
            index = int((_as_hour(hour) - start).total_seconds() // 3600)
            if 0 <= index < HOURS:
                hours[index][_group(status)] += int(count)
    chart = Chart(start=start, hours=hours)
    chart.peak = max((sum(h.values()) for h in hours), default=0)
    scale = (HEIGHT - 4) / chart.peak if chart.peak else 0.0
    for index, counts in enumerate(hours):
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
            )
        )
    by_day: dict[str, dict[str, int]] = {}
    for index, counts in enumerate(hours):
        day = (start + timedelta(hours=index)).strftime("%Y-%m-%d")
        totals = by_day.setdefault(day, {g: 0 for g, _t, _m in GROUPS})
        for group, count in counts.items():
            totals[group] += count
    chart.days = list(by_day.items())
    return chart


@dataclass(frozen=True, slots=True)
class PlatformHealth:
    """One channel of the community and what is known about its connection."""

    platform: str
    place: str
    state: str  # "ok" | "warning" | "unknown"
    summary: str


async def platform_health(db: Database, community_id: str) -> list[PlatformHealth]:
    """The community's channels with their collectors' stored state (read-only)."""
    async with db.read_session() as session:
        entities = list(
            (
                await session.execute(
                    select(Entity)
                    .where(Entity.community_id == community_id)
                    .order_by(Entity.platform, Entity.name)
                )
            ).scalars()
        )
        twitch_ids = [e.channel_id for e in entities if e.platform == "twitch"]
        slack_teams = {e.server_id for e in entities if e.platform == "slack"}
        channels = {
            c.broadcaster_id: c
            for c in (
                await session.execute(
                    select(TwitchChannel).where(TwitchChannel.broadcaster_id.in_(twitch_ids))
                )
            ).scalars()
        }
        statuses: dict[str, dict[str, int]] = {}
        for broadcaster, status, count in (
            await session.execute(
                select(TwitchSubscription.broadcaster_id, TwitchSubscription.status, func.count())
                .where(TwitchSubscription.broadcaster_id.in_(twitch_ids))
                .group_by(TwitchSubscription.broadcaster_id, TwitchSubscription.status)
            )
        ).all():
            statuses.setdefault(broadcaster, {})[status] = int(count)
        installed = {
            team_id: name
            for team_id, name in (
                await session.execute(
                    select(SlackInstallation.team_id, SlackInstallation.team_name).where(
                        SlackInstallation.team_id.in_(slack_teams)
                    )
                )
            ).all()
        }
    found: list[PlatformHealth] = []
    for entity in entities:
        place = entity.name or entity.channel_id
        if entity.platform == "twitch":
            channel = channels.get(entity.channel_id)
            counts = statuses.get(entity.channel_id, {})
            if channel is None:
                found.append(
                    PlatformHealth("twitch", place, "warning", "Not connected (no channel row).")
                )
                continue
            enabled = counts.get("enabled", 0)
            others = {k: v for k, v in counts.items() if k != "enabled"}
            text = f"{enabled} of {sum(counts.values())} EventSub subscriptions enabled"
            if others:
                text += " (" + ", ".join(f"{v} {k}" for k, v in sorted(others.items())) + ")"
            if not channel.bot_is_moderator:
                text += "; the bot is not a moderator"
            state = "ok" if counts and not others else "warning"
            found.append(PlatformHealth("twitch", channel.display_name, state, text + "."))
        elif entity.platform == "slack":
            name = installed.get(entity.server_id)
            if name is None:
                found.append(
                    PlatformHealth(
                        "slack", place, "warning", "The workspace's installation is not stored."
                    )
                )
            else:
                found.append(
                    PlatformHealth("slack", place, "ok", f"Installed in workspace {name}.")
                )
        elif entity.platform == "discord":
            found.append(
                PlatformHealth(
                    "discord",
                    place,
                    "unknown",
                    f"Guild {entity.server_id}; the gateway keeps no per-guild state to show.",
                )
            )
        else:
            found.append(PlatformHealth(entity.platform, place, "ok", "Built in."))
    return found
