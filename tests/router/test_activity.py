"""Chat messages per hour: counted in memory, added to ``message_counts`` in batches (one
statement per flush, adding to what other processes wrote), kept when a write fails, and
written on stop. SQLite + memory and PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError

from tests.support import build_app, community_of, live_server
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import ChatterDay, Community, MessageCount
from waddlebot.router.activity import MessageCounts

HOUR = datetime(2026, 11, 30, 7, tzinfo=UTC)
YESTERDAY = datetime.now(UTC) - timedelta(days=1)


async def test_counts_add_up_across_flushes_and_processes(stack_settings: Settings) -> None:
    async with live_server(build_app(stack_settings)) as bot:
        db = bot.app.state.runtime.db
        community = await community_of(bot)
        first, second = MessageCounts(db), MessageCounts(db)  # two router processes
        for _ in range(3):
            first.count(community, HOUR.replace(minute=5))
        second.count(community, HOUR.replace(minute=59))
        second.count(community, HOUR.replace(hour=8))
        assert first.pending == 3 and await first.flush() == 1 and first.pending == 0
        assert await second.flush() == 2 and await first.flush() == 0
        first.count(community, HOUR)
        await first.stop()  # the last write
        async with db.read_session() as session:
            rows = dict(
                (await session.execute(select(MessageCount.hour, MessageCount.count))).all()
            )
        assert sorted(rows.values()) == [1, 5]


async def test_a_deleted_community_drops_only_its_counts(stack_settings: Settings) -> None:
    async with live_server(build_app(stack_settings)) as bot:
        db = bot.app.state.runtime.db
        kept = await community_of(bot)
        gone = await community_of(bot, channel="other")
        counts = MessageCounts(db)
        counts.count(kept, HOUR)
        counts.count(gone, HOUR)
        counts.count(gone, HOUR)
        async with db.session() as session:
            await session.execute(delete(Community).where(Community.id == gone))
        assert await counts.flush() == 2 and counts.dropped == 2
        async with db.read_session() as session:
            assert list(await session.scalars(select(MessageCount.community_id))) == [kept]


async def test_a_failed_write_keeps_the_counts(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/empty.db")  # not migrated: no table
    try:
        counts = MessageCounts(db)
        counts.count("c1", HOUR)
        with pytest.raises(OperationalError):
            await counts.flush()
        counts.count("c1", HOUR)
        assert counts.pending == 2
        await counts.stop()  # logged, not raised
        assert counts.pending == 2
    finally:
        await db.close()


async def test_the_router_counts_chat_messages(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"message_count_interval": 0.05})
    async with live_server(build_app(settings)) as bot:
        community = await community_of(bot)  # one message
        await bot.texts("hi there", user="bob")
        await bot.texts("!ping", user="bob")  # a command is a chat message too
        db = bot.app.state.runtime.db
        for _ in range(200):
            async with db.read_session() as session:
                total = await session.scalar(
                    select(MessageCount.count).where(MessageCount.community_id == community)
                )
            if total == 3:
                break
            await asyncio.sleep(0.05)
        assert total == 3


async def test_chatters_are_written_once_per_account_and_day(stack_settings: Settings) -> None:
    async with live_server(build_app(stack_settings)) as bot:
        db = bot.app.state.runtime.db
        community = await community_of(bot)
        first, second = MessageCounts(db), MessageCounts(db)  # two router processes
        for account in ("twitch:1", "twitch:1", "discord:1"):
            first.spoke(community, account)
        second.spoke(community, "twitch:1")
        assert first.pending_chatters == 2 and await first.flush() == 2
        first.spoke(community, "twitch:1")  # written today already: not even queued
        assert first.pending_chatters == 0
        assert await second.flush() == 1  # the same account from elsewhere: an ignored conflict
        first.spoke(community, "twitch:1", YESTERDAY)  # another day
        assert first.pending_chatters == 1
        await first.stop()
        async with db.read_session() as session:
            rows = (await session.execute(select(ChatterDay.day, ChatterDay.account))).all()
        days = sorted(day for day, _account in rows)
        assert len(rows) == 3 and days[0] == YESTERDAY.date()
        assert all(len(account) == 32 and ":" not in account for _day, account in rows)


async def test_a_failed_write_keeps_the_chatters(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/empty.db")  # not migrated: no table
    try:
        counts = MessageCounts(db)
        counts.spoke("c1", "twitch:1")
        with pytest.raises(OperationalError):
            await counts.flush()
        counts.spoke("c1", "twitch:2")
        assert counts.pending_chatters == 2
    finally:
        await db.close()
