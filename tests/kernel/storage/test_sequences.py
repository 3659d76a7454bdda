"""Per-community numbers: 1, 2, 3 per community and kind; never twice under concurrency; a
rolled-back transaction gives its number back."""

from __future__ import annotations

import asyncio

import pytest

from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Community
from waddlebot.kernel.storage.sequences import next_number


async def _take(database: Database, community: str, kind: str) -> int:
    async with database.session() as session:
        return await next_number(session, community, kind)


@pytest.fixture(autouse=True)
async def communities(database: Database) -> None:
    async with database.session() as session:
        session.add_all([Community(id="c1", name="One"), Community(id="c2", name="Two")])


async def test_numbers_count_per_community_and_kind(database: Database) -> None:
    assert [await _take(database, "c1", "quote") for _ in range(3)] == [1, 2, 3]
    assert await _take(database, "c2", "quote") == 1
    assert await _take(database, "c1", "event") == 1
    async with database.session() as session:
        assert await next_number(session, "c2", "quote", count=10) == 11  # 2…11 reserved
    assert await _take(database, "c2", "quote") == 12


async def test_concurrent_takers_never_share_a_number(database: Database) -> None:
    numbers = await asyncio.gather(*(_take(database, "c1", "quote") for _ in range(25)))
    assert sorted(numbers) == list(range(1, 26))


async def test_a_rolled_back_number_is_given_again(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.session() as session:
            assert await next_number(session, "c1", "quote") == 1
            raise RuntimeError("the caller's write failed")
    assert await _take(database, "c1", "quote") == 1
