"""The SDK harness itself: events, configuration and storage through the real pipeline."""

from __future__ import annotations

from waddlebot.kernel.contracts import EventType, Role
from waddlebot.sdk import Context, Module
from waddlebot.sdk.testing import ModuleHarness

greeter = Module(
    "greeter",
    config_schema={
        "type": "object",
        "properties": {"greeting": {"type": "string", "default": "Welcome"}},
    },
)


@greeter.command("visits", min_role=Role.subscriber, user_cooldown=60)
async def visits(ctx: Context) -> None:
    ctx.reply(f"{await ctx.storage.get('visits', 0)} visits")


@greeter.on_event(EventType.follow)
async def followed(ctx: Context) -> None:
    await ctx.storage.incr("visits")
    ctx.reply(f"{ctx.config['greeting']}, {ctx.user_name}!")


async def test_events_config_storage_roles_and_cooldowns_go_through_the_router() -> None:
    async with ModuleHarness(greeter, config={"greeting": "Ahoy"}) as bot:
        assert await bot.event(EventType.follow, user="newfan") == ["Ahoy, newfan!"]
        assert await bot.event(EventType.follow, user="other", channel="elsewhere") == [
            "Welcome, other!"
        ]
        assert await bot.reply("!visits") == "@alice !visits is for subscribers and above."
        assert await bot.reply("!visits", role="subscriber") == "1 visits"
        [cooldown] = await bot.texts("!visits", role="subscriber")
        assert cooldown.startswith("@alice !visits is on cooldown")
        storage = await bot.storage(greeter, channel="elsewhere")
        assert await storage.get("visits") == 1
        assert "!visits" in await bot.reply("!help", role="subscriber")
