"""@on_schedule / ctx.schedule / ctx.job through the harness: the real scheduler and module
path on the harness's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from waddlebot.sdk import CommandError, Context, Module
from waddlebot.sdk.testing import ModuleHarness

module = Module("reminders")


@module.command("remind")
async def remind(ctx: Context, seconds: float, text: str) -> None:
    job_id = await ctx.schedule("say", after=seconds, payload={"text": text}, grace=30)
    ctx.reply(f"ok {job_id}")


@module.command("remindkey")
async def remind_key(ctx: Context, key: str) -> None:
    ctx.reply(await ctx.schedule("say", after=10, payload={"text": key}, key=key))


@module.command("forget")
async def forget(ctx: Context, job_id: str) -> None:
    ctx.reply("cancelled" if await ctx.cancel_schedule(job_id) else "nothing to cancel")


@module.command("chain")
async def chain(ctx: Context) -> None:
    await ctx.schedule("tick", at=datetime.now(UTC) + timedelta(seconds=5), payload={"n": 1})
    ctx.reply("started")


@module.command("bad")
async def bad(ctx: Context, which: str) -> None:
    try:
        if which == "handler":
            await ctx.schedule("nope", after=1)
        elif which == "both":
            await ctx.schedule("say", after=1, at=datetime.now(UTC))
        elif which == "naive":
            await ctx.schedule("say", at=datetime.now())  # naive on purpose
        elif which == "payload":
            await ctx.schedule("say", after=1, payload={"x": object()})
    except ValueError as error:
        raise CommandError(str(error)) from None


@module.on_schedule("say")
async def say(ctx: Context) -> None:
    assert ctx.job is not None
    ctx.reply(f"{ctx.job.payload['text']} (attempt {ctx.job.attempt})")


@module.on_schedule("tick")
async def tick(ctx: Context) -> None:
    assert ctx.job is not None
    n = ctx.job.payload["n"]
    ctx.reply(f"tick {n}")
    if n < 3:
        await ctx.schedule("tick", after=5, payload={"n": n + 1}, key=f"tick:{n + 1}")


async def test_a_job_runs_when_due_in_the_channel_it_was_set_up_in() -> None:
    async with ModuleHarness(module) as bot:
        answer = await bot.reply("!remind 60 stretch")
        job_id = answer.split()[1]
        assert await bot.run_due(advance=59) == []
        assert (await bot.job(job_id)).status == "pending"
        assert await bot.run_due(advance=1) == ["stretch (attempt 1)"]
        assert (await bot.job(job_id)).status == "done"
        assert await bot.run_due(advance=600) == []  # once


async def test_chained_jobs_and_ctx_job() -> None:
    async with ModuleHarness(module) as bot:
        assert await bot.reply("!chain") == "started"
        assert await bot.run_due(advance=5) == ["tick 1"]
        assert await bot.run_due(advance=5) == ["tick 2"]
        assert await bot.run_due(advance=5) == ["tick 3"]
        assert await bot.run_due(advance=5) == []


async def test_dedupe_key_returns_the_pending_job_and_cancel() -> None:
    async with ModuleHarness(module) as bot:
        first = await bot.reply("!remindkey daily")
        assert await bot.reply("!remindkey daily") == first
        assert await bot.reply("!remindkey other") != first
        assert await bot.reply(f"!forget {first}") == "cancelled"
        assert await bot.reply(f"!forget {first}") == "nothing to cancel"
        assert await bot.run_due(advance=10) == ["other (attempt 1)"]
        # a cancelled (or finished) job frees its key
        again = await bot.reply("!remindkey daily")
        assert again != first


async def test_a_job_later_than_its_grace_is_dropped() -> None:
    async with ModuleHarness(module) as bot:
        job_id = (await bot.reply("!remind 10 late")).split()[1]
        assert await bot.run_due(advance=10 + 31) == []
        assert (await bot.job(job_id)).status == "dropped"


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("handler", "no @on_schedule('nope')"),
        ("both", "exactly one of at= or after="),
        ("naive", "aware datetime"),
        ("payload", "JSON-serialisable"),
    ],
)
async def test_bad_schedules_are_refused_clearly(which: str, message: str) -> None:
    async with ModuleHarness(module) as bot:
        assert message in await bot.reply(f"!bad {which}")


async def test_ctx_job_is_none_outside_scheduled_runs() -> None:
    probe = Module("probe")

    @probe.command("job")
    async def job(ctx: Context) -> None:
        ctx.reply(repr(ctx.job))

    async with ModuleHarness(probe) as bot:
        assert await bot.reply("!job") == "None"


def test_on_schedule_names_are_unique() -> None:
    twice = Module("twice")

    @twice.on_schedule("x")
    async def first(ctx: Context) -> None: ...

    with pytest.raises(ValueError, match="already has"):

        @twice.on_schedule("x")
        async def second(ctx: Context) -> None: ...
