"""The overview's platform health, read from tables that already exist.

For each channel of the community, what the collectors' own tables say: Twitch (the
channel's row and its EventSub subscriptions' statuses), Slack (whether the workspace's
installation is stored), Discord (the gateway client's connection, latency, whether it sees
the guild and when the guild's last event came in, when the gateway runs in this process —
``waddlebot serve`` with a bot token; otherwise the page says it is not in this process).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from waddlebot.collectors.discord.gateway import DiscordGatewayService, GatewayHealth
from waddlebot.collectors.slack.models import SlackInstallation
from waddlebot.collectors.twitch.models import TwitchChannel, TwitchSubscription
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Entity


@dataclass(frozen=True, slots=True)
class PlatformHealth:
    """One channel of the community and what is known about its connection."""

    platform: str
    place: str
    state: str  # "ok" | "warning" | "unknown"
    summary: str


def discord_gateway(services: Iterable[Any]) -> GatewayHealth | None:
    """The Discord gateway's health when its client runs among this process's services."""
    for service in services:
        if isinstance(service, DiscordGatewayService):
            return service.gateway_health()
    return None


def discord_health(place: str, guild_id: str, gateway: GatewayHealth | None) -> PlatformHealth:
    """One Discord channel: what the in-process gateway client says of its guild."""
    if gateway is None:
        return PlatformHealth(
            "discord",
            place,
            "unknown",
            f"Guild {guild_id}; the Discord gateway does not run in this process, so its "
            "connection is not shown here.",
        )
    seen = gateway.last_event.get(guild_id)
    last = (
        f"last event from this guild {seen.strftime('%Y-%m-%d %H:%M')} UTC"
        if seen
        else "no event from this guild since the gateway started"
    )
    if not gateway.connected:
        return PlatformHealth(
            "discord", place, "warning", f"Guild {guild_id}; the gateway is not connected; {last}."
        )
    latency = f", latency {gateway.latency_ms:.0f} ms" if gateway.latency_ms is not None else ""
    if guild_id not in gateway.guilds:
        return PlatformHealth(
            "discord",
            place,
            "warning",
            f"Guild {guild_id}; the gateway is connected{latency} but does not see this guild "
            f"(is the bot still in it?); {last}.",
        )
    return PlatformHealth(
        "discord", place, "ok", f"Guild {guild_id}; gateway connected{latency}; {last}."
    )


async def platform_health(
    db: Database, community_id: str, gateway: GatewayHealth | None = None
) -> list[PlatformHealth]:
    """The community's channels with their collectors' stored state (read-only) and, for
    Discord, the in-process gateway's ``gateway`` health."""
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
            found.append(discord_health(place, entity.server_id, gateway))
        else:
            found.append(PlatformHealth(entity.platform, place, "ok", "Built in."))
    return found
