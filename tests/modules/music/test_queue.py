"""The queue manager on both engines (SQLite and real PostgreSQL): concurrent requests get
distinct positions under the per-user limit, two reports of one ``ended`` advance once,
moves renumber, and votes survive an identity merge."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from waddlebot.kernel.errors import Conflict
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.merges import run_merge_hooks
from waddlebot.kernel.storage.models import Community, User
from waddlebot.modules.music.models import MusicVote
from waddlebot.modules.music.provider import Track
from waddlebot.modules.music.queue import MusicQueue

NOW = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)


def track(n: int) -> Track:
    return Track(
        provider="youtube",
        id=f"video{n:06d}",
        title=f"Song {n}",
        artist="Band",
        duration_ms=180_000,
        url=f"https://www.youtube.com/watch?v=video{n:06d}",
    )


async def setup(database: Database, users: int) -> tuple[str, list[str]]:
    async with database.session() as session:
        community = Community(name="c")
        people = [User(display_name=f"u{i}") for i in range(users)]
        session.add_all([community, *people])
    return community.id, [p.id for p in people]


async def test_concurrent_requests_get_distinct_positions(database: Database) -> None:
    community, people = await setup(database, 8)
    queue = MusicQueue(database)

    async def request(i: int) -> None:
        await queue.add(
            community,
            track(i),
            user_id=people[i % 8],
            name=f"u{i % 8}",
            subscriber=False,
            moderator=False,
            now=NOW,
        )

    results = await asyncio.gather(*(request(i) for i in range(32)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, Conflict) for r in refused)  # over the limit of 3 each
    entries = await queue.entries(community)
    assert len(entries) == 24 and len(refused) == 8
    assert len({e.position for e in entries}) == 24
    assert [e.status for e in entries].count("playing") == 1


@pytest.mark.parametrize("reporters", [2])
async def test_one_ended_advances_once(database: Database, reporters: int) -> None:
    community, people = await setup(database, 3)
    queue = MusicQueue(database)
    for i in range(3):
        await queue.add(
            community,
            track(i),
            user_id=people[i],
            name="x",
            subscriber=False,
            moderator=False,
            now=NOW,
        )
    playing = await queue.current(community)
    assert playing is not None
    outcomes = await asyncio.gather(
        *(queue.advance(community, playing.id, now=NOW) for _ in range(reporters))
    )
    assert sorted(done is not None for done, _ in outcomes) == [False, True]
    now = await queue.current(community)
    assert now is not None and now.title == "Song 1"


async def test_move_and_merge(database: Database) -> None:
    community, (alice, bob, carol) = await setup(database, 3)
    queue = MusicQueue(database)
    for i, who in enumerate((alice, bob, carol, alice)):
        await queue.add(
            community, track(i), user_id=who, name="x", subscriber=False, moderator=False, now=NOW
        )
    last = (await queue.entries(community))[-1]
    moved = await queue.move(community, last.id, 1)
    assert [e.title for e in moved] == ["Song 0", "Song 3", "Song 1", "Song 2"]
    assert [e.position for e in moved] == sorted(e.position for e in moved)

    await queue.update_settings(community, {"voteskip_votes": 3})
    await queue.vote(community, alice, 0, now=NOW)
    await queue.vote(community, bob, 0, now=NOW)
    async with database.session() as session:  # bob's account merges into alice's
        await run_merge_hooks(session, bob, alice)
    async with database.session() as session:
        voters = list(await session.scalars(select(MusicVote.voter)))
    assert voters == [alice]
    assert {e.requested_by for e in await queue.entries(community)} == {alice, carol}
