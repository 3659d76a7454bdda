"""Redis round trips per command, counted (``waddlebot_redis_commands_total``), not estimated.

A signed EventSub ``!ping`` from a known chatter, through the router and back out to Helix, on
PostgreSQL + Redis. Background loops (queue gauges, blocking reads) also talk to Redis, so
their rate is measured over an idle window first and taken off. The budget is what the path
costs today: a change that adds round trips to every command fails here, and one that removes
some should lower it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from tests.collectors.twitch.fake_twitch import FakeTwitch
from tests.collectors.twitch.twitch_support import authorise_bot, chat_event, deliver, eventually
from tests.support import LiveServer
from waddlebot.kernel.observability.metrics import REDIS_COMMANDS

BUDGET = 15  # round trips per command (14.4 measured 2026-11-30); the goal is 4 (#16)
CHATTERS = [
    {"id": str(700000 + n), "login": f"known{n}", "display_name": f"known{n}"} for n in range(5)
]


def sent() -> Counter[str]:
    """Redis commands this process has sent so far, by command."""
    counts: Counter[str] = Counter()
    for metric in REDIS_COMMANDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                counts[sample.labels["command"]] += int(sample.value)
    return counts


async def ping_all(bot: LiveServer, fake: FakeTwitch, rounds: int) -> int:
    """Each chatter says !ping ``rounds`` times, one at a time; returns how many were answered."""
    for _ in range(rounds):
        for chatter in CHATTERS:
            before = len(fake.chat)
            await deliver(bot.client, chat_event("!ping", chatter=chatter))
            await eventually(lambda: len(fake.chat) > before)  # noqa: B023 - awaited here
    return rounds * len(CHATTERS)


@pytest.mark.parametrize("stack_settings", ["distributed"], indirect=True)
async def test_a_command_costs_at_most_the_budgeted_redis_round_trips(
    bot: LiveServer, fake_twitch: FakeTwitch
) -> None:
    await authorise_bot(bot, fake_twitch)
    await ping_all(bot, fake_twitch, rounds=1)  # first sight: users registered, caches warm
    await asyncio.sleep(0.5)

    idle_start, idle_began = sent(), time.monotonic()
    await asyncio.sleep(2.0)
    idle_seconds = time.monotonic() - idle_began
    idle = sent() - idle_start

    busy_start, busy_began = sent(), time.monotonic()
    commands = await ping_all(bot, fake_twitch, rounds=3)
    busy_seconds = time.monotonic() - busy_began
    busy = sent() - busy_start

    assert fake_twitch.chat_texts()[-commands:] == ["pong"] * commands
    per_command = {
        name: max(0.0, count - idle[name] * busy_seconds / idle_seconds) / commands
        for name, count in busy.items()
    }
    total = sum(per_command.values())
    breakdown = ", ".join(f"{name} {n:.1f}" for name, n in sorted(per_command.items()) if n >= 0.1)
    assert total <= BUDGET, f"{total:.1f} Redis round trips per command: {breakdown}"
    print(f"\n{total:.1f} Redis round trips per command: {breakdown}")
