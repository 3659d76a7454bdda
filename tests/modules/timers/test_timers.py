"""Timers end to end: chat-line rule, online-only, !command timers run as their creator,
on/off/remove, the minimum interval, restarts, and one firing per slot across processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from tests.module_support import module_request
from tests.support import testkit
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.kernel.contracts import ChatAction, EventType
from waddlebot.kernel.security.service_tokens import service_headers
from waddlebot.kernel.settings import Settings
from waddlebot.modules.aliases import module as aliases
from waddlebot.modules.core import module as core
from waddlebot.modules.timers import module as timers
from waddlebot.router.service import RouterService
from waddlebot.sdk.remote import RemoteHost
from waddlebot.sdk.testing import ModuleHarness
from waddlebot.sdk.timers import format_duration, parse_duration
from waddlebot.timers.manager import TimerManager
from waddlebot.timers.models import Timer

OWNER = {"user": "streamer", "role": "broadcaster"}


async def unsolicited(bot: ModuleHarness, after: int = 0, *, want: int = 1) -> list[str]:
    """What the bot posted into the lobby on its own, waiting (bounded) for ``want`` of them."""
    assert bot.client is not None
    headers = service_headers(bot.runtime.settings.resolved_secret_key, "test")
    texts: list[str] = []
    for _ in range(100):
        answer = await bot.client.get(
            "/api/playground/v1/channels/lobby/messages", params={"after": after}, headers=headers
        )
        texts = [m["text"] for m in answer.json()["messages"]]
        if len(texts) >= want:
            break
        await asyncio.sleep(0.05)
    return texts


def test_durations() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("5m") == 300
    assert parse_duration("1h30m") == 5400
    assert parse_duration("1H") == 3600
    for bad in ("", "5", "m5", "5 m", "5x", "-5m", "5m!"):
        assert parse_duration(bad) is None
    assert format_duration(5400) == "1h30m"
    assert format_duration(90) == "1m30s"


async def test_a_timer_waits_for_chat_lines() -> None:
    async with ModuleHarness(timers) as bot:
        assert await bot.reply("!timer add tip 5m --lines=3 Follow the stream!", **OWNER) == (
            "Timer tip added (every 5m, after 3 chat lines): Follow the stream!"
        )
        assert await bot.run_due(advance=299) == []
        assert await bot.run_due(advance=1) == []  # due, but the channel is idle
        assert await bot.run_due(advance=300) == []
        await bot.texts("hello")
        await bot.texts("anyone here?")
        assert await bot.run_due(advance=300) == []  # two lines are not enough
        await bot.texts("!ping")  # a command is a chat line too
        assert await bot.run_due(advance=300) == ["Follow the stream!"]
        assert await bot.run_due(advance=300) == []  # counted again from when it spoke
        for line in ("a", "b", "c"):
            await bot.texts(line, channel="elsewhere")  # other channels do not count
        assert await bot.run_due(advance=300) == []
        for line in ("a", "b", "c"):
            await bot.texts(line)
        assert await bot.run_due(advance=300) == ["Follow the stream!"]


async def test_without_lines_it_speaks_every_interval_once() -> None:
    async with ModuleHarness(timers) as bot:
        await bot.reply("!timer add hi 1m Hi chat", **OWNER)
        assert await bot.run_due(advance=60) == ["Hi chat"]
        assert await bot.run_due() == []
        # a late run (the bot was stopped for a while) speaks once, then keeps its interval
        assert await bot.run_due(advance=3600) == ["Hi chat"]
        assert await bot.run_due(advance=59) == []
        assert await bot.run_due(advance=1) == ["Hi chat"]


async def test_online_only_speaks_while_live() -> None:
    async with ModuleHarness(timers) as bot:
        await bot.reply("!timer add live 1m --online-only We are live!", **OWNER)
        assert await bot.run_due(advance=60) == []
        assert await bot.event(EventType.stream_online) == []
        assert await bot.run_due(advance=60) == ["We are live!"]
        await bot.event(EventType.stream_offline)
        assert await bot.run_due(advance=60) == []


async def test_list_on_off_remove_and_refusals() -> None:
    async with ModuleHarness(timers) as bot:
        assert (await bot.reply("!timer list", **OWNER)).startswith("No timers here yet.")
        assert await bot.reply("!timer add t 30s hello", **OWNER) == (
            "A timer's interval is 1m to 7d."
        )
        assert await bot.reply("!timer add t soon hello", **OWNER) == (
            "soon is not an interval; try 90s, 5m or 1h."
        )
        assert await bot.reply("!timer add t 5m --loud hello", **OWNER) == (
            "Unknown option --loud. " + (await bot.reply("!timer", **OWNER))
        )
        assert (await bot.reply("!timer add t 5m", **OWNER)).startswith("Usage: !timer add")
        assert await bot.reply("!timer add t 5m hi") == (
            "@alice !timer needs the commands.manage permission here."
        )
        await bot.reply("!timer add t 2m hello there", **OWNER)
        assert (
            await bot.reply("!timer add t 2m again", **OWNER) == "There is a timer t here already."
        )
        assert await bot.reply("!timer list", **OWNER) == "Timers: t (every 2m): hello there"
        assert await bot.reply("!timer off t", **OWNER) == "Timer t is off."
        assert await bot.reply("!timer off t", **OWNER) == "Timer t is off already."
        assert await bot.reply("!timer list", **OWNER) == "Timers: t (every 2m, off): hello there"
        assert await bot.run_due(advance=600) == []
        assert await bot.reply("!timer on t", **OWNER) == "Timer t is on (every 2m): hello there"
        assert await bot.run_due(advance=120) == ["hello there"]
        # off then on quickly: only the new chain speaks
        await bot.reply("!timer off t", **OWNER)
        await bot.reply("!timer on t", **OWNER)
        assert await bot.run_due(advance=120) == ["hello there"]
        assert await bot.reply("!timer remove t", **OWNER) == "Timer t removed."
        assert await bot.run_due(advance=600) == []
        assert await bot.reply("!timer remove t", **OWNER) == "There is no timer t here."


async def test_a_command_timer_runs_through_the_pipeline_as_its_creator() -> None:
    async with ModuleHarness(timers, aliases, testkit) as bot:
        await bot.reply("!alias me='!echo $user'", **OWNER)
        assert await bot.reply("!timer add who 1m !me", **OWNER) == (
            "Timer who added (every 1m): !me"
        )
        assert await bot.run_due(advance=60) == []  # it queued the command instead
        assert await unsolicited(bot) == ["streamer"]
        # the creator's permissions apply: a command they may not run is refused to them
        await bot.reply("!timer add mods 1m !kit fix", **OWNER)
        await bot.reply("!timer off who", **OWNER)
        await bot.run_due(advance=60)
        assert (await unsolicited(bot, 1))[-1] == "fixed"  # the owner holds labels.manage


async def test_outside_the_router_timers_are_not_available() -> None:
    request = module_request("timer", "list").model_copy(
        update={"user_permissions": ["commands.manage"]}
    )
    response = await timers.handle(request, RemoteHost())
    assert response.actions == [ChatAction(text="Timers are not available here.")]


@asynccontextmanager
async def router_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, RouterService]]:
    """A WaddleBot with timers whose scheduler runs only when the test says so."""
    router = RouterService(modules=[core, timers], run_scheduler=False)
    app = create_app(settings, instances=[router, PlaygroundService()])
    async with app.router.lifespan_context(app):
        yield app, router


async def say(app: FastAPI, text: str, **who: str) -> list[str]:
    from waddlebot.collectors.playground.service import converse
    from waddlebot.kernel.contracts import Event, Platform, Role, UserRef

    user = who.get("user", "alice")
    event = Event(
        platform=Platform.playground,
        server_id="playground",
        channel_id="lobby",
        user=UserRef(id=user, name=user, role=Role[who.get("role", "everyone")]),
        text=text,
    )
    result = await converse(app.state.runtime, event)
    return [reply.text for reply in result.replies]


def clock(offset: float) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + timedelta(seconds=offset)


def at(moment: datetime, offset: float) -> Callable[[], datetime]:
    """A clock ``offset`` seconds after ``moment``, however long the test took to get here."""
    return lambda: moment + timedelta(seconds=offset)


async def spoken(router: RouterService) -> list[Any]:
    assert router.scheduler is not None
    return [
        action.text
        for result in await router.scheduler.run_due()
        for action in result.actions
        if action.type == "chat"
    ]


async def test_timers_survive_a_restart_and_fire_once_per_slot(stack_settings: Settings) -> None:
    async with router_app(stack_settings) as (app, router):
        before = datetime.now(UTC)
        assert await say(app, "!timer add tip 2m Drink water", **OWNER) == [
            "Timer tip added (every 2m): Drink water"
        ]
        after = datetime.now(UTC)  # the timer is due 2 minutes after a moment in between
        assert await spoken(router) == []
    # a new process over the same database: the timer is still there and fires when due
    async with router_app(stack_settings) as (app, router):
        assert router.jobs is not None
        router.jobs.clock = at(before, 119)
        assert await spoken(router) == []
        router.jobs.clock = at(after, 121)
        # two processes claiming at once: the slot speaks once
        async with router_app(stack_settings) as (_, other):
            assert other.jobs is not None
            other.jobs.clock = at(after, 121)
            both = await asyncio.gather(spoken(router), spoken(other))
        assert sorted(both[0] + both[1]) == ["Drink water"]
        assert await spoken(router) == []
        router.jobs.clock = at(after, 121 + 120)
        assert await spoken(router) == ["Drink water"]
        # the slot claim behind it: a second run of a slot (a reclaimed job) stays silent
        runtime = app.state.runtime
        async with runtime.db.session() as session:
            row = await session.scalar(select(Timer))
        assert row is not None and row.last_slot == 2
        manager = TimerManager(runtime.db, runtime.backend, min_interval=60, queue_max=10)
        claimed = await manager.claim(row.community_id, row.id, row.generation, 3)
        again = await manager.claim(row.community_id, row.id, row.generation, 3)
        stale = await manager.claim(row.community_id, row.id, row.generation - 1, 4)
        assert (claimed[1], again[1], stale) == (True, False, (None, False))


async def test_an_online_only_timer_on_twitch(stack_settings: Settings) -> None:
    from waddlebot.kernel.contracts import Event, OutboundMessage, Platform, Role, UserRef
    from waddlebot.kernel.contracts.names import outbound_queue, outcome_channel

    async with router_app(stack_settings) as (app, router):
        runtime = app.state.runtime
        backend = runtime.backend
        queue = outbound_queue("twitch")

        async def twitch(event: Event) -> list[OutboundMessage]:
            async with backend.pubsub.subscribe(outcome_channel(event.id)) as outcomes:
                client = runtime.client("router", caller="test")
                answer = await client.post(
                    "/api/router/v1/events", json=event.model_dump(mode="json")
                )
                assert answer.status_code == 202
                assert await outcomes.get(timeout=10) is not None
            return await drain()

        async def drain() -> list[OutboundMessage]:
            taken = await backend.queues.take(queue, "t", "t", count=10)
            if taken:
                await backend.queues.ack(queue, "t", *(item.id for item in taken))
            return [OutboundMessage.model_validate_json(item.payload) for item in taken]

        place = {"platform": Platform.twitch, "server_id": "1001", "channel_id": "1001"}
        caster = UserRef(id="1001", name="caster", role=Role.broadcaster)
        [added] = await twitch(
            Event(**place, user=caster, text="!timer add live 1m --online-only We are live!")
        )
        assert added.text == "Timer live added (every 1m, while live): We are live!"
        assert router.jobs is not None
        router.jobs.clock = clock(61)
        assert await spoken(router) == []  # offline
        assert await twitch(Event(**place, type=EventType.stream_online)) == []
        router.jobs.clock = clock(122)
        assert await spoken(router) == ["We are live!"]
        [posted] = await drain()
        assert (posted.channel_id, posted.text, posted.reply_to) == ("1001", "We are live!", None)
        await twitch(Event(**place, type=EventType.stream_offline))
        router.jobs.clock = clock(183)
        assert await spoken(router) == []
