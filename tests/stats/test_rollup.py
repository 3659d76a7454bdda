"""Daily roll-ups and the retention prune, on real SQLite and PostgreSQL: one function reads
roll-ups before the watermark and raw rows after it, the roll-up is idempotent (also when two
processes race for a day), and the prune never deletes a row of a day not rolled up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import (
    ChatterDay,
    CommandExecution,
    CommandUsageDaily,
    Community,
    CommunityUsageDaily,
    Entity,
    MessageCount,
    User,
    new_id,
)
from waddlebot.stats.rollup import UsageRollups
from waddlebot.stats.usage import community_usage, rolled_through

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TODAY = NOW.date()


async def seed(db: Database) -> tuple[str, str]:
    """Two communities; runs over the last 5 days (and 200 days ago) in the first."""
    async with db.session() as session:
        here, there = Community(name="here"), Community(name="there")
        session.add_all([here, there])
        await session.flush()
        twitch = Entity(platform="twitch", server_id="s", channel_id="c", community_id=here.id)
        discord = Entity(platform="discord", server_id="g", channel_id="d", community_id=here.id)
        elsewhere = Entity(platform="slack", server_id="t", channel_id="x", community_id=there.id)
        ada, bob = User(display_name="ada"), User(display_name="bob")
        session.add_all([twitch, discord, elsewhere, ada, bob])
        await session.flush()

        def run(
            ago: timedelta, trigger: str, entity: Entity, user: User, status: str = "ok"
        ) -> CommandExecution:
            return CommandExecution(
                id=new_id(),
                event_id=new_id(),
                community_id=entity.community_id,
                entity_id=entity.id,
                user_id=user.id,
                trigger=trigger,
                module="core",
                status=status,
                started_at=NOW - ago,
            )

        for days in range(5):
            ago = timedelta(days=days, hours=1)
            session.add(run(ago, "!ping", twitch, ada))
            session.add(run(ago, "!ping", discord, bob))
            session.add(run(ago, "!help", twitch, ada, "refused"))
            session.add(run(ago, "!ping", elsewhere, bob))
            for account in ("ada", "zed", "ann"[: 3 if days == 2 else 0]):
                if account:  # three people spoke two days ago, two on the other days
                    day = (NOW - ago).date()
                    session.add(ChatterDay(community_id=here.id, day=day, account=account))
        session.add(run(timedelta(days=200), "!old", twitch, ada))
        old_day = (NOW - timedelta(days=200)).date()
        session.add(ChatterDay(community_id=here.id, day=old_day, account="ada"))
        session.add(
            CommandExecution(
                id=new_id(), event_id=new_id(), trigger="!x", status="abandoned",
                started_at=NOW - timedelta(days=3),
            )
        )  # fmt: skip
        session.add(
            MessageCount(community_id=here.id, hour=NOW - timedelta(days=2, hours=1), count=7)
        )
        return here.id, there.id


async def test_rolled_and_raw_days_read_the_same(database: Database) -> None:
    here, _there = await seed(database)
    start, end = TODAY - timedelta(days=6), TODAY
    before = (await community_usage(database, here, start, end)).as_dict()
    rollups = UsageRollups(database, retention_days=90)
    rolled = await rollups.roll_up(NOW)
    assert rolled == 200  # 200 days ago .. yesterday: every finished day once
    async with database.read_session() as session:
        assert await rolled_through(session) == TODAY
    after = (await community_usage(database, here, start, end)).as_dict()
    assert after == before
    day = next(d for d in after["days"] if d["day"] == (TODAY - timedelta(days=2)).isoformat())
    assert day["commands"] == 3 and day["messages"] == 7
    assert day["chatters"] == 3 and day["command_users"] == 2
    assert day["outcomes"] == {"ok": 2, "refused": 1, "failed": 0}
    assert {(c["command"], c["platform"]): c["runs"] for c in day["by_command"]} == {
        ("!ping", "twitch"): 1,
        ("!ping", "discord"): 1,
        ("!help", "twitch"): 1,
    }
    assert after["top_commands"][0] == {"command": "!ping", "module": "core", "runs": 10}
    assert after["modules"] == [{"module": "core", "runs": 15}]
    assert after["totals"] == {"commands": 15, "messages": 7}


async def test_the_roll_up_is_idempotent(database: Database) -> None:
    _here, there = await seed(database)
    rollups = UsageRollups(database)
    await rollups.roll_up(NOW)
    assert await rollups.roll_up(NOW) == 0  # nothing left: a second pass changes nothing
    async with database.read_session() as session:
        rows = (await session.execute(select(CommandUsageDaily))).scalars().all()
        snapshot = sorted(_key(r) for r in rows)
    await rollups.rebuild(TODAY - timedelta(days=1))  # the same day again, from raw rows
    assert not await rollups.roll_day(TODAY - timedelta(days=1))  # watermark moved: no-op
    async with database.read_session() as session:
        rows = (await session.execute(select(CommandUsageDaily))).scalars().all()
        again = sorted(_key(r) for r in rows)
        users = await session.scalar(
            select(func.sum(CommunityUsageDaily.command_users)).where(
                CommunityUsageDaily.community_id == there
            )
        )
    assert again == snapshot and users == 4  # bob on 4 finished days there


async def test_processes_racing_for_a_day_roll_it_up_once(database: Database) -> None:
    await seed(database)
    first, second = UsageRollups(database), UsageRollups(database)
    done = await asyncio.gather(first.roll_up(NOW), second.roll_up(NOW))
    assert sum(done) == 200
    async with database.read_session() as session:
        runs = await session.scalar(select(func.sum(CommandUsageDaily.runs)))
    assert runs == 4 * 4 + 1  # 4 finished days × 4 runs + the old one; today stays raw


async def test_pruning_never_drops_rows_not_rolled_up(database: Database) -> None:
    here, _there = await seed(database)
    rollups = UsageRollups(database, retention_days=7)
    assert await rollups.prune(NOW) == 0  # never rolled up: nothing may go
    await rollups._watermark(NOW)  # the watermark starts at the oldest day, nothing rolled
    assert await rollups.prune(NOW) == 0
    async with database.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(CommandExecution)) == 22
    await rollups.roll_up(NOW)
    assert await rollups.prune(NOW) == 1  # only the row 200 days old is past 7 days
    old = (await community_usage(database, here, TODAY - timedelta(days=200), TODAY)).as_dict()
    assert old["totals"]["commands"] == 16  # the pruned row still counts, from its roll-up
    assert {c["command"] for c in old["top_commands"]} == {"!ping", "!help", "!old"}
    assert old["days"][0]["chatters"] == 1  # from the roll-up: its chatter row was pruned
    async with database.read_session() as session:
        kept = await session.scalar(select(func.count()).select_from(ChatterDay))
    assert kept == 2 * 5 + 1


async def test_a_late_watermark_keeps_raw_rows_of_unrolled_days(database: Database) -> None:
    """The grace period: a day is rolled up only two hours after it ended."""
    await seed(database)
    rollups = UsageRollups(database, retention_days=7)
    just_after_midnight = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC) + timedelta(
        minutes=30
    )
    await rollups.roll_up(just_after_midnight)
    async with database.read_session() as session:
        assert await rolled_through(session) == TODAY - timedelta(days=1)


def _key(row: CommandUsageDaily) -> tuple[str, str, str, str, str, int]:
    return (row.community_id, row.day.isoformat(), row.trigger, row.platform, row.status, row.runs)
