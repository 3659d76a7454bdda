"""Many concurrent changes, each in its own session, on real SQLite and real PostgreSQL:
stock never below zero, never more given than stocked, units conserved by sends, every
successful change in the history exactly once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable

from sqlalchemy import func, select

from waddlebot.kernel.errors import Conflict, Refusal
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Community, User
from waddlebot.modules.inventory.manager import InventoryManager
from waddlebot.modules.inventory.models import InventoryChange, InventoryHolding

TASKS = 30


async def setup(database: Database, people: int) -> tuple[str, list[str]]:
    async with database.session() as session:
        community = Community(name="Penguins")
        users = [User(display_name=f"p{i}") for i in range(people)]
        session.add(community)
        session.add_all(users)
    return community.id, [user.id for user in users]


async def settle(*calls: Awaitable[object]) -> list[object]:
    """Run every call at once (bounded); refusals come back as values."""
    outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 60)
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, Refusal):
            raise outcome
    return outcomes


async def totals(database: Database, community: str) -> dict[str, int]:
    async with database.read_session() as session:
        rows = await session.execute(
            select(InventoryHolding.user_id, InventoryHolding.quantity).where(
                InventoryHolding.community_id == community
            )
        )
        return {user: quantity for user, quantity in rows}


async def changes(database: Database, community: str, action: str) -> int:
    async with database.read_session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(InventoryChange)
            .where(InventoryChange.community_id == community, InventoryChange.action == action)
        )
    return int(count or 0)


async def test_concurrent_gives_never_exceed_the_stock(database: Database) -> None:
    community, people = await setup(database, 6)
    manager = InventoryManager(database)
    await manager.create(community, "Golden Egg", stock=10)
    outcomes = await settle(
        *(
            manager.give(community, people[i % len(people)], "golden egg", 1, who="test")
            for i in range(TASKS)
        )
    )
    refused = [o for o in outcomes if isinstance(o, Refusal)]
    assert len(refused) == TASKS - 10
    assert all(isinstance(o, Conflict) and "out of stock" in o.message for o in refused)
    item = await manager.item(community, "Golden Egg")
    assert (item.stock_left, item.held) == (0, 10)
    assert sum((await totals(database, community)).values()) == 10
    assert await changes(database, community, "give") == 10

    # the last unit: two gives at once, exactly one wins (taken back from someone who holds
    # one: which gives won the race above is the database's choice, not the call order)
    holder = next(user for user, held in (await totals(database, community)).items() if held)
    await manager.take(community, holder, "Golden Egg", 1, who="test")
    first, second = await settle(
        manager.give(community, people[1], "Golden Egg", 1, who="a"),
        manager.give(community, people[2], "Golden Egg", 1, who="b"),
    )
    assert [isinstance(o, Refusal) for o in (first, second)].count(True) == 1
    assert (await manager.item(community, "Golden Egg")).stock_left == 0


async def test_concurrent_sends_gives_and_takes_conserve_units(database: Database) -> None:
    community, people = await setup(database, 4)
    manager = InventoryManager(database)
    await manager.create(community, "Coin", stock=100)
    for person in people:
        await manager.give(community, person, "Coin", 20, who="test")
    pick = random.Random(7)
    calls: list[Awaitable[object]] = []
    for i in range(TASKS):
        giver, receiver = pick.sample(people, 2)
        quantity = pick.randint(1, 15)
        if i % 5 == 0:
            calls.append(manager.give(community, receiver, "Coin", quantity, who="test"))
        elif i % 5 == 1:
            calls.append(manager.take(community, giver, "Coin", quantity, who="test"))
        else:
            calls.append(manager.send(community, giver, receiver, "Coin", quantity))
    outcomes = await settle(*calls)
    assert any(isinstance(o, Refusal) for o in outcomes)  # some sends asked for too much
    assert any(not isinstance(o, Refusal) for o in outcomes)

    held = await totals(database, community)
    assert all(quantity > 0 for quantity in held.values())  # none negative, zeros deleted
    item = await manager.item(community, "Coin")
    assert item.stock_left is not None and item.stock_left >= 0
    assert item.stock_left + sum(held.values()) == 100  # units conserved
    # every successful change left one history line
    done = [o for o in outcomes if not isinstance(o, Refusal)]
    recorded = sum(
        [await changes(database, community, action) for action in ("give", "take", "send")]
    )
    assert recorded == len(done) + len(people)
