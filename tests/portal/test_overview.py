"""The overview: commands per hour for 7 days as an inline SVG (no script), platform health."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.portal.conftest import MEMBER, logged_in, portal_bot
from waddlebot.collectors.discord.adapter import build_client
from waddlebot.collectors.discord.config import DiscordSettings
from waddlebot.collectors.discord.gateway import (
    DiscordGatewayService,
    GatewayHandler,
    GatewayHealth,
)
from waddlebot.collectors.discord.normalise import Author, GatewayMessage
from waddlebot.collectors.discord.shards import GatewayShards
from waddlebot.collectors.twitch.models import TwitchChannel, TwitchSubscription
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import CommandExecution, Entity, MessageCount, new_id
from waddlebot.portal.chart import HOURS, command_chart
from waddlebot.portal.health import discord_gateway, platform_health
from waddlebot.stats.usage import community_usage

# Today, 05:30 UTC: the router's hourly roll-up never touches the current UTC day (only
# finished days, after a 2 h grace), so rows written for NOW stay in the raw tables whatever
# the hour the test runs. A fixed date went into the roll-up once it was two days old.
NOW = datetime.now(UTC).replace(hour=5, minute=30, second=0, microsecond=0)


async def test_the_chart_counts_commands_per_hour_by_outcome(stack_settings: Settings) -> None:
    async with portal_bot(stack_settings) as bot:
        db = bot.runtime.db
        async with db.session() as session:
            entity = await session.scalar(
                select(Entity.id).where(Entity.community_id == bot.community_id)
            )
            for ago, status in [
                (timedelta(minutes=10), "ok"),
                (timedelta(minutes=20), "ok"),
                (timedelta(minutes=25), "limited"),
                (timedelta(hours=3), "failed"),
                (timedelta(days=8), "ok"),  # outside the 7 days
            ]:
                session.add(
                    CommandExecution(
                        id=new_id(),
                        event_id=new_id(),
                        community_id=bot.community_id,
                        entity_id=entity,
                        trigger="!x",
                        status=status,
                        started_at=NOW - ago,
                    )
                )
            for ago, count in [(timedelta(0), 5), (timedelta(hours=2), 4), (timedelta(days=8), 9)]:
                session.add(
                    MessageCount(
                        community_id=bot.community_id,
                        hour=(NOW - ago).replace(minute=0),
                        count=count,
                    )
                )
        chart = await command_chart(db, bot.community_id, now=NOW)
        assert len(chart.hours) == HOURS and chart.total == 4 and chart.peak == 5
        assert chart.hours[-1] == {"ok": 2, "refused": 1, "failed": 0}
        assert chart.hours[-4] == {"ok": 0, "refused": 0, "failed": 1}
        assert chart.messages[-1] == 5 and chart.messages[-3] == 4 and chart.total_messages == 9
        # the daily table: the usage statistics' days (8 UTC days touch the 168 hours)
        assert len(chart.days) == 8
        assert chart.days[-1][1] == {
            "messages": 9,
            "chatters": 0,  # these runs name nobody
            "ok": 2,
            "refused": 1,
            "failed": 1,
        }
        usage = await community_usage(db, bot.community_id, NOW.date(), NOW.date())
        assert usage.as_dict()["days"][0]["outcomes"] == {"ok": 2, "refused": 1, "failed": 1}
        assert chart.line.endswith(f"{HOURS * 4 - 2},4")  # the peak: the top of the chart

        async with logged_in(bot) as owner:
            page = await owner.get(f"/portal/c/{bot.community_id}")
            assert page.status_code == 200
            assert "Chat messages and commands per hour, last 7 days" in page.text
            assert "<svg" in page.text and "<polyline" in page.text
            assert "Active chatters" in page.text  # the daily table: the usage statistics' days
            assert "<title>" in page.text and "Recent commands" in page.text
            assert "Platforms" in page.text and "Built in." in page.text  # the playground
            head = page.text.split("</title>")[0]
            assert "<table" not in head  # the page title is only the community's name
        async with logged_in(bot, MEMBER) as member:
            page = await member.get(f"/portal/c/{bot.community_id}")
            assert "commands per hour" not in page.text  # needs commands.manage


async def test_platform_health_reads_the_collectors_tables(stack_settings: Settings) -> None:
    async with portal_bot(stack_settings) as bot:
        async with bot.runtime.db.session() as session:
            for platform, server, channel in [
                ("twitch", "b1", "b1"),
                ("twitch", "b2", "b2"),
                ("slack", "T1", "C1"),
                ("discord", "G1", "D1"),
            ]:
                session.add(
                    Entity(
                        platform=platform,
                        server_id=server,
                        channel_id=channel,
                        name=f"{platform}-{channel}",
                        community_id=bot.community_id,
                    )
                )
            session.add(TwitchChannel(broadcaster_id="b1", login="ada", display_name="Ada"))
            for status in ("enabled", "enabled", "authorization_revoked"):
                session.add(
                    TwitchSubscription(
                        broadcaster_id="b1",
                        type=f"t{new_id()}",
                        version="1",
                        condition={},
                        status=status,
                    )
                )
        found = {h.place: h for h in await platform_health(bot.runtime.db, bot.community_id)}
        assert found["Ada"].state == "warning"
        assert "2 of 3 EventSub subscriptions enabled (1 authorization_revoked)" in (
            found["Ada"].summary
        )
        assert "not a moderator" in found["Ada"].summary
        assert found["twitch-b2"].summary == "Not connected (no channel row)."
        assert found["slack-C1"].state == "warning"
        assert found["discord-D1"].state == "unknown"
        assert "does not run in this process" in found["discord-D1"].summary
        async with logged_in(bot) as owner:
            page = await owner.get(f"/portal/c/{bot.community_id}")
            assert "the Discord gateway does not run in this process" in page.text


async def test_discord_health_from_the_gateway_in_this_process(stack_settings: Settings) -> None:
    """The gateway client's own state: connected or not, latency, the guilds it sees and
    when each guild's last event came in (any event, ordinary chat included)."""
    async with portal_bot(stack_settings) as bot:
        settings = DiscordSettings(bot_token="x", api_base="http://127.0.0.1:9/api/v10")
        service = DiscordGatewayService(settings)
        assert discord_gateway([service]) is None  # no client (no bot token at start)
        service.handler = GatewayHandler(bot.runtime, settings)
        service.shards = GatewayShards(bot.runtime, settings, build=lambda shard, gate: None)
        service.shards.clients[0] = build_client(settings, service.handler)  # never connected
        await service.handler.message(
            GatewayMessage(
                id="1",
                guild_id="G1",
                channel_id="D1",
                channel_name="general",
                author=Author(id="7", name="ada"),
                content="hello",
            )
        )
        health = discord_gateway([object(), service])
        assert health is not None and not health.connected and health.latency_ms is None
        assert set(health.last_event) == {"G1"} and health.guilds == frozenset()
        async with bot.runtime.db.session() as session:
            for guild in ("G1", "G2"):
                session.add(
                    Entity(
                        platform="discord",
                        server_id=guild,
                        channel_id=f"D-{guild}",
                        name=f"chan-{guild}",
                        community_id=bot.community_id,
                    )
                )
        found = {
            h.place: h for h in await platform_health(bot.runtime.db, bot.community_id, health)
        }
        assert found["chan-G1"].state == "warning"
        assert "the gateway is not connected; last event from this guild 20" in (
            found["chan-G1"].summary
        )
        assert "no event from this guild since the gateway started" in found["chan-G2"].summary
        live = GatewayHealth(
            connected=True,
            latency_ms=41.6,
            guilds=frozenset({"G1"}),
            last_event=health.last_event,
        )
        found = {h.place: h for h in await platform_health(bot.runtime.db, bot.community_id, live)}
        assert found["chan-G1"].state == "ok"
        assert "gateway connected, latency 42 ms; last event" in found["chan-G1"].summary
        assert found["chan-G2"].state == "warning" and "does not see this guild" in (
            found["chan-G2"].summary
        )


async def test_chat_messages_sent_in_the_playground_reach_the_chart(
    stack_settings: Settings,
) -> None:
    """End to end: playground messages counted by the router, written in a batch, drawn."""
    async with portal_bot(stack_settings, message_count_interval=0.05) as bot:
        for n in range(4):
            await bot.server.texts(f"hello {n}", user="bob")
        async with logged_in(bot) as owner:
            for _ in range(100):
                page = await owner.get(f"/portal/c/{bot.community_id}")
                if "6 messages and" in page.text:
                    break
                await asyncio.sleep(0.05)
            # the fixture's two first lines (the channel's, bob's) and the four here
            assert "6 messages and 0 commands" in page.text
