"""``ctx.storage`` of an in-process module is durable: on SQLite + in-memory cache and on
PostgreSQL + Redis, what a module stored is still there after the whole app is closed and a
new one is opened over the same settings (for the embedded default: a new, empty cache)."""

from __future__ import annotations

from fastapi import FastAPI

from tests.support import live_server
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.kernel.settings import Settings
from waddlebot.modules.core import module as core
from waddlebot.router.service import RouterService
from waddlebot.sdk import Context, Module

guestbook = Module("guestbook", description="Remembers visitors.")


@guestbook.command("visit")
async def visit(ctx: Context) -> None:
    total = await ctx.storage.incr("visits")
    mine = await ctx.user_storage.incr("visits")
    await ctx.storage.set("last", ctx.user_name)
    await ctx.storage.set("fleeting", "gone soon", ttl=3600)
    ctx.reply(f"visit {total}, yours {mine}")


@guestbook.command("last")
async def last(ctx: Context) -> None:
    ctx.reply(f"last: {await ctx.storage.get('last', 'nobody')}, keys: {await ctx.storage.keys()}")


def app(settings: Settings) -> FastAPI:
    return create_app(
        settings, instances=[RouterService(modules=[core, guestbook]), PlaygroundService()]
    )


async def test_module_data_survives_closing_and_reopening_the_app(
    stack_settings: Settings,
) -> None:
    async with live_server(app(stack_settings)) as bot:
        assert await bot.texts("!visit") == ["visit 1, yours 1"]
        assert await bot.texts("!visit", user="bob") == ["visit 2, yours 1"]
        assert await bot.texts("!visit") == ["visit 3, yours 2"]

    async with live_server(app(stack_settings)) as bot:
        assert await bot.texts("!last") == ["last: alice, keys: ['fleeting', 'last', 'visits']"]
        assert await bot.texts("!visit", user="bob") == ["visit 4, yours 2"]
        assert await bot.texts("!visit", channel="elsewhere") == ["visit 1, yours 1"]
