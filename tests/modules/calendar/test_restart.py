"""Reminders are durable: an event approved before a restart is reminded by the next
process over the same database (SQLite embedded, PostgreSQL + Redis distributed), once,
and a cancelled one is not."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.kernel.contracts import Event, Platform, Role, UserRef
from waddlebot.kernel.settings import Settings
from waddlebot.modules.calendar import module as calendar
from waddlebot.modules.core import module as core
from waddlebot.router.service import RouterService


@asynccontextmanager
async def process(settings: Settings) -> AsyncIterator[tuple[FastAPI, RouterService]]:
    """One WaddleBot process whose scheduler runs only when the test says so."""
    router = RouterService(modules=[core, calendar], run_scheduler=False)
    app = create_app(settings, instances=[router, PlaygroundService()])
    async with app.router.lifespan_context(app):
        yield app, router


async def say(app: FastAPI, text: str, user: str = "alice", role: str = "everyone") -> list[str]:
    from waddlebot.collectors.playground.service import converse

    event = Event(
        platform=Platform.playground,
        server_id="playground",
        channel_id="lobby",
        user=UserRef(id=user, name=user, role=Role[role]),
        text=text,
    )
    result = await converse(app.state.runtime, event)
    return [reply.text for reply in result.replies]


def clock(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


async def spoken(router: RouterService) -> list[str]:
    assert router.scheduler is not None
    return [
        action.text
        for result in await router.scheduler.run_due()
        for action in result.actions
        if action.type == "chat"
    ]


async def test_reminders_survive_a_restart(stack_settings: Settings) -> None:
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    start = datetime.fromisoformat(f"{day}T20:00:00+00:00")
    async with process(stack_settings) as (app, router):
        [added] = await say(app, f"!event add Movie night {day} 20:00", "streamer", "broadcaster")
        assert added.endswith("is on the calendar.")
        await say(app, f"!event add Quiz {day} 20:00", "streamer", "broadcaster")
        assert await say(app, "!event cancel 2", "streamer", "broadcaster") == [
            'Event #2 "Quiz" is cancelled.'
        ]
        assert await spoken(router) == []
    async with process(stack_settings) as (app, router):
        assert router.jobs is not None
        router.jobs.clock = clock(start - timedelta(minutes=16))
        assert await spoken(router) == []
        router.jobs.clock = clock(start - timedelta(minutes=15))
        [reminder] = await spoken(router)
        assert reminder.startswith('Reminder: #1 "Movie night" starts in 15 minutes')
        router.jobs.clock = clock(start)
        assert await spoken(router) == []
