"""Reminders: ``!remind me|@user in 10m|at 18:30|at 2026-12-01 18:30 [--private] TEXT``,
``!reminders`` and ``!reminders cancel N``.

Each reminder is a row (``models_reminders.py``) and one durable scheduler job that comes
back as ``@module.on_schedule("remind")`` in the channel it was set in, after restarts too.
The job is scheduled first and the row written second: a crash in between leaves a job that
finds no row and stays silent, never a row nobody will deliver. Wall-clock times are read in
the community's time zone (``reminders_time.py`` says how DST gaps and repeats resolve).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from waddlebot.modules.memories import reminders_api  # noqa: F401 - registers the REST routes
from waddlebot.modules.memories.module import module
from waddlebot.modules.memories.reminders_manager import (
    NotWrittenYet,
    Origin,
    ReminderBook,
    ReminderDraft,
    ReminderInfo,
    Target,
    check_text,
)
from waddlebot.modules.memories.reminders_time import after, check_window, describe, next_clock
from waddlebot.sdk import CommandError, Context
from waddlebot.sdk.clock import DAY, Due, on_day, parse_clock, parse_day
from waddlebot.sdk.database import new_id
from waddlebot.sdk.errors import offered
from waddlebot.sdk.scheduling import SchedulerOperations
from waddlebot.sdk.text import fit

REMIND = "remind"
GRACE = 365 * 86_400.0  # a reminder due while the bot was down is still delivered, marked late
LATE = timedelta(minutes=5)
MANAGE = "memories.manage"
USAGE = "Usage: !remind me|@user in 10m|at 18:30|at 2026-12-01 18:30 [--private] TEXT"
LIST_USAGE = "Usage: !reminders [@user] | !reminders cancel N"
WORD = re.compile(r"\S+")
PRIVATE = "--private"


@dataclass(frozen=True, slots=True)
class Asked:
    """What ``!remind`` asked for, before the target is looked up."""

    who: str  # "me" or the name as typed
    due: Due
    text: str
    private: bool


@module.command(
    "remind",
    usage="!remind me|@user in 10m|at 18:30|at YYYY-MM-DD HH:MM [--private] TEXT",
    description="Remind yourself or someone here later (in the community's time zone).",
)
async def remind(ctx: Context) -> None:
    scheduler = _scheduler(ctx)
    zone = await ctx.time_zone()
    now = scheduler.now()
    asked = _parse(ctx.request.raw_text, zone, now)
    check_window(asked.due.at, now, zone)
    text = check_text(asked.text)
    set_by = await ctx.user_id()
    caller = ctx.caller
    if asked.who == "me":
        target = Target(set_by, ctx.platform.value, caller.user.id, caller.user.name)
    else:
        found = await ctx.find_user(asked.who)
        target = Target(found.user_id, found.platform, found.platform_user_id, found.username)
    book = ReminderBook(ctx.database)
    await book.room_for(ctx.community_id, set_by)
    reminder_id = new_id()
    job_id = await ctx.schedule(
        REMIND,
        at=asked.due.at,
        payload={"reminder": reminder_id},
        grace=GRACE,
        key=f"reminder:{reminder_id}",
    )
    event = ctx.event
    draft = ReminderDraft(
        id=reminder_id,
        community_id=ctx.community_id,
        set_by=set_by,
        set_by_name=ctx.user_name,
        target=target,
        origin=Origin(ctx.platform.value, event.server_id, event.channel_id, event.channel_name),
        due_at=asked.due.at,
        time_zone=zone.key,
        text=text,
        private=asked.private,
        job_id=job_id,
    )
    try:
        info = await book.add(draft)
    except Exception:
        await ctx.cancel_schedule(job_id)  # refused (or failed): the job must not linger
        raise
    whom = "you" if info.for_self else f"@{target.name}"
    how = ", whispered" if info.private else ""
    answer = f"Reminder #{info.number} set for {whom}{how}: {describe(info.due_at, zone, now)}."
    ctx.reply(f"{answer} {asked.due.note}".strip())


@module.command(
    "reminders",
    usage="!reminders [@user] | !reminders cancel N",
    description="List the reminders you set here (someone's with memories.manage), or cancel one.",
)
async def reminders(ctx: Context) -> None:
    if len(ctx.args) > 1 or (ctx.args and not ctx.args[0].startswith("@")):
        raise CommandError(LIST_USAGE)
    zone = await ctx.time_zone()
    now = _scheduler(ctx).now()
    book = ReminderBook(ctx.database)
    if ctx.args:
        if not ctx.can(MANAGE):
            raise CommandError(f"Listing someone else's reminders needs the {MANAGE} permission.")
        found = await ctx.find_user(ctx.args[0])
        theirs = await book.pending(ctx.community_id, set_by=found.user_id)
        if not theirs:
            ctx.reply(f"{found.username} has no reminders pending here.")
            return
        listing = "; ".join(_line(r, zone, now) for r in theirs)
        ctx.reply(fit(f"Reminders {found.username} set: {listing}"))
        return
    mine = await book.pending(ctx.community_id, set_by=await ctx.user_id())
    if not mine:
        ctx.reply("You have no reminders pending here. Set one: !remind me in 10m stretch")
        return
    ctx.reply(fit("Your reminders: " + "; ".join(_line(r, zone, now) for r in mine)))


@module.subcommand(
    "reminders",
    "cancel",
    usage="!reminders cancel N",
    description="Cancel reminder N (yours; anyone's with memories.manage).",
)
async def cancel(ctx: Context, number: str) -> None:
    value = number.lstrip("#")
    if not value.isdigit() or int(value) < 1:
        raise CommandError(f"{number} is not a reminder number. {LIST_USAGE}")
    me = await ctx.user_id()
    info = await ReminderBook(ctx.database).cancel(
        ctx.community_id, int(value), me, may_manage=ctx.can(MANAGE)
    )
    if info.job_id:
        await ctx.cancel_schedule(info.job_id)
    ctx.reply(
        f"Reminder #{info.number} cancelled."
        if info.set_by == me
        else f"Reminder #{info.number} (set by {info.set_by_name}) cancelled."
    )


@module.on_schedule(REMIND)
async def deliver(ctx: Context) -> None:
    """Say (or whisper) the reminder once; a cancelled or delivered one stays silent."""
    job = ctx.job
    assert job is not None
    try:
        info = await ReminderBook(ctx.database).deliver(
            ctx.community_id, str(job.payload.get("reminder", "")), job.id
        )
    except NotWrittenYet:
        if job.attempt <= 1:
            # a job due within moments of !remind can run before its row is committed:
            # fail this run so the scheduler retries it (after scheduler_retry_delay)
            raise RuntimeError("the reminder's row is not written yet; retrying") from None
        return  # still no row: !remind failed after scheduling (its job is an orphan)
    if info is None:
        return
    text = info.text
    late = _scheduler(ctx).now() - info.due_at
    if late > LATE:
        shown = info.due_at.astimezone(ZoneInfo(info.time_zone))
        text += f" (due {shown:%Y-%m-%d %H:%M} {shown.tzname()}, sent late)"
    sender = "" if info.for_self else f" from {info.set_by_name}"
    if info.private:
        ctx.whisper(f"Reminder{sender}: {text}", user_id=info.target.platform_user_id)
    else:
        ctx.reply(f"@{info.target.name} reminder{sender}: {text}")


def _scheduler(ctx: Context) -> SchedulerOperations:
    return offered(ctx.host.scheduler(), "Reminders need the bot's scheduler, not available here.")


def _parse(raw: str, zone: ZoneInfo, now: datetime) -> Asked:
    """``!remind [me|@user] in|at WHEN [--private] TEXT [--private]`` from the raw text, so
    the reminder keeps its spacing; ``--private`` may come before the text or end it."""
    words = list(WORD.finditer(raw))
    index, private = 1, False

    def options() -> None:
        nonlocal index, private
        while index < len(words) and words[index].group().startswith("--"):
            option = words[index].group().lower()
            if option != PRIVATE:
                raise CommandError(f"Unknown option {words[index].group()}. {USAGE}")
            private = True
            index += 1

    def word() -> str:
        nonlocal index
        options()
        if index >= len(words):
            raise CommandError(USAGE)
        index += 1
        return words[index - 1].group()

    who = word()
    if who.lower() in ("in", "at"):
        mode, who = who.lower(), "me"  # "!remind in 10m …" means me
    else:
        mode = word().lower()
        who = "me" if who.lower() == "me" else who
    if mode == "in":
        due = after(word(), now)
    elif mode == "at":
        first = word()
        if DAY.fullmatch(first):
            day = parse_day(first)
            due = on_day(day, parse_clock(word()), zone)
        else:
            due = next_clock(parse_clock(first), zone, now)
    else:
        raise CommandError(USAGE)
    options()
    if index >= len(words):
        raise CommandError("What should I remind you of? Add the text after the time.")
    last = len(words) - 1
    if last > index and words[last].group().lower() == PRIVATE:
        private = True
        text = raw[words[index].start() : words[last].start()]
    else:
        text = raw[words[index].start() :]
    return Asked(who=who, due=due, text=text.strip(), private=private)


def _line(info: ReminderInfo, zone: ZoneInfo, now: datetime) -> str:
    whom = "" if info.for_self else f" for @{info.target.name}"
    what = "(private)" if info.private else info.text
    return f"#{info.number} {describe(info.due_at, zone, now)}{whom}: {what}"
