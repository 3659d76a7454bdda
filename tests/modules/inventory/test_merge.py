"""Holdings follow identity merges: after a real ``!identity link`` / ``!verify``, the absorbed
user's units join the kept user's (summed where both held the item) in every community."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select

from tests.identity.test_linking import request_code, twitch_say, twitch_texts, user_of
from tests.support import LiveServer, live_server
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.identity.service import IdentityService
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Entity
from waddlebot.modules.core import module as core
from waddlebot.modules.identity import module as identity
from waddlebot.modules.inventory import module as inventory
from waddlebot.modules.inventory.manager import InventoryManager
from waddlebot.modules.inventory.models import InventoryHolding
from waddlebot.router.service import RouterService


@asynccontextmanager
async def linking_bot(settings: Settings) -> AsyncIterator[LiveServer]:
    app = create_app(
        settings,
        instances=[
            RouterService(modules=[core, identity, inventory]),
            PlaygroundService(),
            IdentityService(),
        ],
    )
    async with live_server(app) as bot:
        yield bot


async def community_of_channel(bot: LiveServer, channel: str) -> str:
    async with bot.app.state.runtime.db.read_session() as session:
        found = await session.scalar(
            select(Entity.community_id).where(Entity.channel_id == channel)
        )
    assert found is not None
    return str(found)


async def test_holdings_follow_a_verified_link(stack_settings: Settings) -> None:
    async with linking_bot(stack_settings) as bot:
        await twitch_say(bot, "hello chat")  # AliceTV on Twitch, channel "c"
        await bot.texts("!ping")  # alice on the playground lobby
        alice = await user_of(bot, "playground", "alice")
        alicetv = await user_of(bot, "twitch", "t-77")
        lobby = await community_of_channel(bot, "lobby")
        twitch = await community_of_channel(bot, "c")
        manager = InventoryManager(bot.app.state.runtime.db)
        for community in (lobby, twitch):
            await manager.create(community, "Coin")
            await manager.create(community, "Golden Egg", stock=10)
        await manager.give(lobby, alice, "Coin", 5, who="test")
        await manager.give(lobby, alicetv, "Coin", 3, who="test")  # both hold it: summed
        await manager.give(lobby, alicetv, "Golden Egg", 2, who="test")  # moved
        await manager.give(twitch, alicetv, "Coin", 7, who="test")  # another community
        assert await twitch_texts(bot, "!inv") == ["Your items: Coin ×7"]

        code = await request_code(bot)
        [linked] = await twitch_texts(bot, f"!verify {code}")
        assert linked.startswith("Linked!")
        assert await user_of(bot, "twitch", "t-77") == alice

        assert await bot.texts("!inv") == ["Your items: Coin ×8, Golden Egg ×2"]
        assert await twitch_texts(bot, "!inv") == ["Your items: Coin ×7"]
        async with bot.app.state.runtime.db.read_session() as session:
            left = await session.scalar(
                select(func.count())
                .select_from(InventoryHolding)
                .where(InventoryHolding.user_id == alicetv)
            )
        assert left == 0
        # stock is untouched by a merge: units only changed hands
        egg = await manager.item(lobby, "Golden Egg")
        assert (egg.stock_left, egg.held) == (8, 2)
        # the history follows the person too; the merge itself is recorded
        entries = await manager.history(lobby, user_id=alice)
        assert sorted((e.action, e.item, e.quantity) for e in entries) == [
            ("give", "Coin", 3),
            ("give", "Coin", 5),
            ("give", "Golden Egg", 2),
            ("merge", "Coin", 3),
            ("merge", "Golden Egg", 2),
        ]
        merges = [e for e in entries if e.action == "merge"]
        assert all((e.from_user, e.to_user) == (alicetv, alice) for e in merges)
