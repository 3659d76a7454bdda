"""A module that posts into its channel later: ``!announce SECONDS TEXT`` schedules
``@on_schedule("post")``, which says ``announcement: TEXT`` where ``!announce`` was typed."""

from __future__ import annotations

from fastapi import FastAPI

from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.kernel.service import Service
from waddlebot.kernel.settings import Settings
from waddlebot.modules.core import module as core
from waddlebot.router.service import RouterService
from waddlebot.sdk import Context, Module

announcer = Module("announcer")


@announcer.command("announce")
async def announce(ctx: Context, seconds: float, text: str) -> None:
    await ctx.schedule("post", after=seconds, payload={"text": text})
    ctx.reply("scheduled")


@announcer.on_schedule("post")
async def post(ctx: Context) -> None:
    assert ctx.job is not None
    ctx.reply(f"announcement: {ctx.job.payload['text']}")


def announcer_app(settings: Settings, *extra: Service) -> FastAPI:
    """Router (core + announcer) and the playground, plus ``extra`` services."""
    return create_app(
        settings,
        instances=[RouterService(modules=[core, announcer]), PlaygroundService(), *extra],
    )
