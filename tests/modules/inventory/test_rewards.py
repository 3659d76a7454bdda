"""Channel-points rewards mapped to items in the module's config: through the router from the
playground, and as a signed Twitch EventSub notification arriving at the webhook."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from tests.collectors.twitch.conftest import twitch_settings
from tests.collectors.twitch.fake_twitch import STREAMER, FakeTwitch
from tests.collectors.twitch.twitch_support import deliver, subscription
from tests.support import LiveServer, live_server
from waddlebot.app import create_app
from waddlebot.collectors.twitch.service import TwitchService
from waddlebot.kernel.contracts import Event, EventType, Platform
from waddlebot.kernel.contracts.names import COMMANDS_VERSION
from waddlebot.kernel.settings import Settings
from waddlebot.marketplace.catalogue import Catalogue
from waddlebot.marketplace.models import ModuleInstall
from waddlebot.modules.core import module as core
from waddlebot.modules.inventory import module as inventory
from waddlebot.modules.inventory.manager import InventoryManager
from waddlebot.router.directory import Directory
from waddlebot.router.service import RouterService
from waddlebot.sdk.testing import ModuleHarness

OWNER = {"user": "streamer", "role": "broadcaster"}
CONFIG = {
    "grants": [
        {"reward": "Golden Egg", "item": "Golden Egg", "quantity": 1},
        {"reward": "rw-coins", "item": "Coin", "quantity": 25},
    ]
}


def redemption(reward_id: str, title: str, redemption_id: str | None = None) -> dict[str, Any]:
    return {"id": redemption_id or str(uuid.uuid4()), "reward": {"id": reward_id, "title": title}}


async def test_a_mapped_reward_grants_items_once_per_redemption() -> None:
    async with ModuleHarness(inventory, config=CONFIG) as bot:
        await bot.reply('!inv add "Golden Egg" 2', **OWNER)
        await bot.reply("!inv add Coin", **OWNER)
        # carol never chatted: redeeming makes her known
        assert await bot.event(
            EventType.redemption, user="carol", data=redemption("rw-egg", "golden egg", "r1")
        ) == ["carol redeemed golden egg: +1 Golden Egg (now 1)."]
        # the same redemption again (a redelivery under a new event id) grants nothing
        assert (
            await bot.event(
                EventType.redemption, user="carol", data=redemption("rw-egg", "golden egg", "r1")
            )
            == []
        )
        assert await bot.event(
            EventType.redemption, user="carol", data=redemption("rw-coins", "Coins!")
        ) == ["carol redeemed Coins!: +25 Coin (now 25)."]
        assert await bot.event(
            EventType.redemption, user="dan", data=redemption("x", "Golden Egg")
        ) == ["dan redeemed Golden Egg: +1 Golden Egg (now 1)."]
        assert await bot.event(
            EventType.redemption, user="erin", data=redemption("x", "Golden Egg")
        ) == ["@erin Golden Egg is out of stock."]
        assert await bot.event(EventType.redemption, data=redemption("x", "Hydrate")) == []
        assert await bot.reply("!inv", user="carol") == "Your items: Coin ×25, Golden Egg ×1"

        community = await bot.community_id()
        grants = await InventoryManager(bot.runtime.db).history(community, item="Golden Egg")
        assert [(e.action, e.actor, e.reason) for e in grants][:2] == [
            ("grant", "playground:reward", "reward: Golden Egg"),
            ("grant", "playground:reward", "reward: golden egg"),
        ]


async def test_announcements_can_be_switched_off() -> None:
    async with ModuleHarness(inventory, config={**CONFIG, "announce": False}) as bot:
        await bot.reply("!inv add Coin", **OWNER)
        assert await bot.event(EventType.redemption, data=redemption("rw-coins", "Coins")) == []
        assert await bot.reply("!inv") == "Your items: Coin ×25"


@pytest.fixture
async def fake_twitch() -> AsyncIterator[FakeTwitch]:
    fake = FakeTwitch()
    async with live_server(fake.app()) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
async def twitch_bot(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> AsyncIterator[LiveServer]:
    app = create_app(
        stack_settings,
        instances=[
            RouterService(modules=[core, inventory]),
            TwitchService(twitch_settings(fake_twitch)),
        ],
    )
    async with live_server(app) as server:
        yield server


async def configure_twitch_channel(bot: LiveServer) -> str:
    """Register the streamer's channel, configure the module there as an install would, and
    add the items; the community id."""
    runtime = bot.app.state.runtime
    place = await Directory(runtime.db, runtime.backend.kv).place(
        Event(platform=Platform.twitch, server_id=STREAMER["id"], channel_id=STREAMER["id"])
    )
    await Catalogue(runtime.db, runtime.backend).sync_builtins([inventory])
    async with runtime.db.session() as session:
        session.add(
            ModuleInstall(
                community_id=place.community_id,
                module_name=inventory.name,
                version=inventory.version,
                config=CONFIG,
                enabled=True,
            )
        )
    await runtime.backend.kv.incr(COMMANDS_VERSION)  # the router reloads config on the next event
    manager = InventoryManager(runtime.db)
    await manager.create(place.community_id, "Golden Egg", stock=5)
    return place.community_id


def notification(redemption_id: str) -> dict[str, Any]:
    """A ``channel.channel_points_custom_reward_redemption.add`` notification as documented."""
    return {
        "subscription": subscription(
            "channel.channel_points_custom_reward_redemption.add",
            broadcaster_user_id=STREAMER["id"],
        ),
        "event": {
            "id": redemption_id,
            "broadcaster_user_id": STREAMER["id"],
            "broadcaster_user_login": STREAMER["login"],
            "broadcaster_user_name": STREAMER["display_name"],
            "user_id": "9001",
            "user_login": "cooler_user",
            "user_name": "Cooler_User",
            "user_input": "",
            "status": "unfulfilled",
            "reward": {"id": "rw-egg", "title": "Golden Egg", "cost": 100, "prompt": "An egg"},
            "redeemed_at": "2024-03-01T12:00:00.17106713Z",
        },
    }


async def held_eggs(bot: LiveServer, community: str) -> int:
    from waddlebot.modules.inventory.models import InventoryHolding

    async with bot.app.state.runtime.db.read_session() as session:
        total = await session.scalar(
            select(InventoryHolding.quantity).where(InventoryHolding.community_id == community)
        )
    return int(total or 0)


async def test_a_signed_eventsub_redemption_grants_the_item(twitch_bot: LiveServer) -> None:
    import asyncio

    community = await configure_twitch_channel(twitch_bot)
    answer = await deliver(twitch_bot.client, notification("red-1"))
    assert answer.status_code == 204, answer.text
    for _ in range(200):
        if await held_eggs(twitch_bot, community):
            break
        await asyncio.sleep(0.05)
    assert await held_eggs(twitch_bot, community) == 1
    # Twitch resends the same redemption (a new message id): it counts once
    again = await deliver(twitch_bot.client, notification("red-1"))
    assert again.status_code == 204
    await deliver(twitch_bot.client, notification("red-2"))
    for _ in range(200):
        if await held_eggs(twitch_bot, community) >= 2:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # give a wrongly doubled grant time to show
    assert await held_eggs(twitch_bot, community) == 2
    entries = await InventoryManager(twitch_bot.app.state.runtime.db).history(community)
    assert [(e.action, e.actor, e.quantity) for e in entries[:2]] == [
        ("grant", "twitch:reward", 1),
        ("grant", "twitch:reward", 1),
    ]


COMMANDS = {
    "commands": {
        "!daily": {"item": "Coin", "quantity": 5, "cooldown": 86400},
        "Hug": {"item": "Hug"},
        "!ping": {"item": "Coin"},
    }
}


async def test_configured_commands_grant_items_once_per_window() -> None:
    async with ModuleHarness(inventory, config=COMMANDS) as bot:
        await bot.reply("!inv add Coin", **OWNER)
        assert (await bot.say("!daily"))["status"] == "ignored"  # not synced yet
        assert await bot.reply("!inv sync") == (
            "@alice !inv sync needs the inventory.manage permission here."
        )
        assert await bot.reply("!inv sync", **OWNER) == (
            "Item commands here: !daily, !hug. Already taken by other modules: !ping (core)."
        )
        assert await bot.reply("!daily") == "alice got 5 Coin (now 5)."
        again = await bot.reply("!daily")
        assert again.startswith("You already used !daily; try again in ")
        assert await bot.reply("!daily", user="bob") == "bob got 5 Coin (now 5)."
        assert await bot.reply("!hug") == "There is no item called Hug here."
        await bot.reply("!inv add Hug", **OWNER)
        assert await bot.reply("!hug") == "alice got 1 Hug (now 1)."
        assert await bot.reply("!hug") == "alice got 1 Hug (now 2)."  # no cooldown
        assert await bot.reply("!ping") == "pong"  # core still answers its own

        # dropping a command from the config and syncing stops it
        await bot.configure(inventory, {"commands": {"!hug": {"item": "Hug"}}})
        assert await bot.reply("!daily") == "!daily grants nothing here any more."
        assert await bot.reply("!inv sync", **OWNER) == "Item commands here: !hug."
        assert (await bot.say("!daily"))["status"] == "ignored"
        assert await bot.reply("!inv") == "Your items: Coin ×5, Hug ×2"
