"""Timers from chat: the host keeps the rows, ``ctx.schedule`` fires them.

Each timer runs as a chain of scheduled jobs, one per interval (a *slot*), each keyed
``timer:<id>:<generation>:<slot>`` so scheduling a slot twice gives one job; the host's
:meth:`claim` lets exactly one run of a slot speak. A run speaks when at least ``--lines``
chat lines came in since the timer last spoke and, with ``--online-only``, while the stream
is live (``stream_online``/``stream_offline`` events). A ``!command`` timer runs its command
through the whole pipeline as its creator; anything else is posted as it is.
"""

from __future__ import annotations

import re
from typing import Any

from waddlebot import __version__
from waddlebot.kernel.contracts import EventType
from waddlebot.sdk import CommandError, Context, Module
from waddlebot.sdk.errors import offered
from waddlebot.sdk.text import fit
from waddlebot.sdk.timers import (
    NO_STREAM,
    TimerDraft,
    TimerError,
    TimerInfo,
    TimerOperations,
    format_duration,
    is_command,
    parse_duration,
)

module = Module(
    "timers",
    version=__version__,
    description="Timers: a message or command repeated on an interval while chat is active.",
)

FIRE = "fire"
GRACE = 365 * 86_400.0  # a firing missed while stopped still runs once on start, then re-chains
USAGE = (
    "Usage: !timer add NAME INTERVAL [--lines=N] [--online-only] MESSAGE-or-!command | "
    "!timer list | !timer remove|on|off NAME"
)
WORD = re.compile(r"\S+")


def _operations(ctx: Context) -> TimerOperations:
    return offered(ctx.host.timers(), "Timers are not available here.")


@module.command(
    "timer",
    usage="!timer <add|list|remove|on|off>",
    description="Repeat a message or command on an interval while chat is active.",
    permission="commands.manage",
)
async def timer(ctx: Context) -> None:
    raise CommandError(USAGE)


@module.subcommand(
    "timer",
    "add",
    usage="!timer add NAME INTERVAL [--lines=N] [--online-only] MESSAGE-or-!command",
    description="Add a timer (INTERVAL like 90s, 5m, 1h).",
    permission="commands.manage",
)
async def add(ctx: Context) -> None:
    draft = _draft(ctx)
    if draft.online_only and ctx.platform.value in NO_STREAM:
        raise CommandError(f"--online-only needs a stream; {ctx.platform.value} has none.")
    operations = _operations(ctx)
    try:
        info = await operations.add(ctx.community_id, ctx.caller, draft)
    except TimerError as refusal:
        raise CommandError(refusal.message) from None
    await _start(ctx, operations, info)
    ctx.reply(f"Timer {info.name} added ({_describe(info)}): {info.content}")


@module.subcommand("timer", "list", description="List the timers.", permission="commands.manage")
async def list_(ctx: Context) -> None:
    timers = await _operations(ctx).timers(ctx.community_id)
    if not timers:
        ctx.reply("No timers here yet. " + USAGE)
        return
    ctx.reply(
        fit("Timers: " + "; ".join(f"{t.name} ({_describe(t)}): {t.content}" for t in timers))
    )


@module.subcommand(
    "timer",
    "remove",
    usage="!timer remove NAME",
    description="Delete a timer.",
    permission="commands.manage",
)
async def remove(ctx: Context, name: str) -> None:
    try:
        info = await _operations(ctx).remove(ctx.community_id, ctx.caller, name)
    except TimerError as refusal:
        raise CommandError(refusal.message) from None
    if info.job_id:
        await ctx.cancel_schedule(info.job_id)
    ctx.reply(f"Timer {info.name} removed.")


@module.subcommand(
    "timer",
    "on",
    usage="!timer on NAME",
    description="Switch a timer on (in this channel).",
    permission="commands.manage",
)
async def on(ctx: Context, name: str) -> None:
    operations = _operations(ctx)
    try:
        info = await operations.switch(
            ctx.community_id, ctx.caller, name, True, ctx.request.entity_id
        )
    except TimerError as refusal:
        raise CommandError(refusal.message) from None
    await _start(ctx, operations, info)
    ctx.reply(f"Timer {info.name} is on ({_describe(info)}): {info.content}")


@module.subcommand(
    "timer",
    "off",
    usage="!timer off NAME",
    description="Switch a timer off.",
    permission="commands.manage",
)
async def off(ctx: Context, name: str) -> None:
    try:
        info = await _operations(ctx).switch(
            ctx.community_id, ctx.caller, name, False, ctx.request.entity_id
        )
    except TimerError as refusal:
        raise CommandError(refusal.message) from None
    if info.job_id:
        await ctx.cancel_schedule(info.job_id)
    ctx.reply(f"Timer {info.name} is off.")


@module.on_schedule(FIRE)
async def fire(ctx: Context) -> None:
    """One slot: win it, decide whether to speak, chain the next slot."""
    job = ctx.job
    assert job is not None
    timer_id, generation = str(job.payload["timer"]), int(job.payload["generation"])
    slot, mark = int(job.payload["slot"]), int(job.payload.get("lines", 0))
    operations = _operations(ctx)
    info, won = await operations.claim(ctx.community_id, timer_id, generation, slot)
    if info is None:
        return  # removed, switched off, or switched on again (a newer chain runs)
    lines = await operations.chat_lines(ctx.request.entity_id)
    if lines < mark:
        mark = 0  # the counter started over (an in-memory cache after a restart)
    speak = won and lines - mark >= info.lines and (not info.online_only or await _live(ctx))
    await _chain(ctx, operations, info, slot + 1, lines if speak else mark)
    if not speak:
        return
    if is_command(info.content):
        await operations.run_as_creator(ctx.community_id, info.id, slot)
    else:
        ctx.reply(info.content)


@module.on_event(EventType.stream_online, EventType.stream_offline)
async def stream(ctx: Context) -> None:
    """Remember whether the channel is live, for ``--online-only`` timers."""
    live = ctx.event.type is EventType.stream_online
    await ctx.storage.set(_live_key(ctx.request.entity_id), live)


async def _start(ctx: Context, operations: TimerOperations, info: TimerInfo) -> None:
    """Schedule slot 1 of a (new or switched-on) timer, counting lines from now."""
    await _chain(ctx, operations, info, 1, await operations.chat_lines(ctx.request.entity_id))


async def _chain(
    ctx: Context, operations: TimerOperations, info: TimerInfo, slot: int, mark: int
) -> None:
    payload: dict[str, Any] = {
        "timer": info.id,
        "generation": info.generation,
        "slot": slot,
        "lines": mark,
    }
    job_id = await ctx.schedule(
        FIRE,
        after=info.interval,
        payload=payload,
        grace=GRACE,
        key=f"timer:{info.id}:{info.generation}:{slot}",
    )
    await operations.attach(ctx.community_id, info.id, job_id)


async def _live(ctx: Context) -> bool:
    return bool(await ctx.storage.get(_live_key(ctx.request.entity_id), False))


def _live_key(entity_id: str) -> str:
    return f"live:{entity_id}"


def _draft(ctx: Context) -> TimerDraft:
    """``!timer add NAME INTERVAL [--lines=N] [--online-only] rest…`` from the raw text, so
    the message keeps its spacing and quotes."""
    raw = ctx.request.raw_text
    words = list(WORD.finditer(raw))
    if len(words) < 5:
        raise CommandError(USAGE)
    name, interval_text = words[2].group(), words[3].group()
    interval = parse_duration(interval_text)
    if interval is None:
        raise CommandError(f"{interval_text} is not an interval; try 90s, 5m or 1h.")
    lines, online_only = 0, False
    index = 4
    while index < len(words) and words[index].group().startswith("--"):
        option = words[index].group().lower()
        if option == "--online-only":
            online_only = True
        elif option.startswith("--lines=") and option[8:].isdigit():
            lines = int(option[8:])
        else:
            raise CommandError(f"Unknown option {option}. {USAGE}")
        index += 1
    if index >= len(words):
        raise CommandError(USAGE)
    return TimerDraft(
        name=name,
        interval=interval,
        lines=lines,
        online_only=online_only,
        content=raw[words[index].start() :].strip(),
        entity_id=ctx.request.entity_id,
    )


def _describe(info: TimerInfo) -> str:
    parts = [f"every {format_duration(info.interval)}"]
    if info.lines:
        parts.append(f"after {info.lines} chat line{'s' if info.lines != 1 else ''}")
    if info.online_only:
        parts.append("while live")
    if not info.enabled:
        parts.append("off")
    return ", ".join(parts)
