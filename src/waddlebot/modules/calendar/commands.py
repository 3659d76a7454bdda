"""The ``calendar`` module in chat: ``!event`` and ``!events``, and the jobs that post
reminders and outcome notices into the channel an event was proposed in.

Times are typed and shown in the community's time zone (``!timezone``). The proposer is told
the outcome of an approval, rejection or someone else's cancellation by a message in the
channel they proposed it in, mentioning them (``@name``): a whisper would only reach them on
the platform the decision was taken on, and an approval over REST has no platform at all.
"""

from __future__ import annotations

from waddlebot import __version__
from waddlebot.kernel.errors import Invalid
from waddlebot.modules.calendar.manager import (
    DEFAULT_REMIND_MINUTES,
    NOTICE,
    REMIND,
    Draft,
    EventBook,
    EventInfo,
    Proposer,
    parse_number,
    remind_minutes,
)
from waddlebot.modules.calendar.models import APPROVED, PENDING
from waddlebot.modules.calendar.times import (
    DEFAULT_DURATION,
    length_text,
    parse_length,
    when,
)
from waddlebot.sdk import CommandError, Context, Module
from waddlebot.sdk.clock import on_day, parse_clock, parse_day
from waddlebot.sdk.errors import offered
from waddlebot.sdk.scheduling import JobOrigin
from waddlebot.sdk.text import fit

module = Module(
    "calendar",
    version=__version__,
    description="Community calendar: events proposed in chat, approved by moderators, "
    "reminded in chat and published as an iCalendar feed.",
    config_schema={
        "type": "object",
        "properties": {
            "remind_minutes": {
                "type": "integer",
                "minimum": 0,
                "maximum": 10080,
                "default": DEFAULT_REMIND_MINUTES,
                "description": "Minutes before an event's start to remind its channel (0: never).",
            }
        },
    },
)

ADD_USAGE = 'Usage: !event add "TITLE" YYYY-MM-DD HH:MM [DURATION like 2h] [description]'
USAGE = (
    "Usage: !event NUMBER | "
    + ADD_USAGE.removeprefix("Usage: ")
    + " | !event approve|reject|cancel NUMBER"
)
LISTED = 5
APPROVER = "calendar.approve"


def _book(ctx: Context) -> EventBook:
    scheduler = offered(ctx.host.scheduler(), "The calendar needs the bot's scheduler.")
    return EventBook(ctx.database, scheduler)


def _origin(ctx: Context) -> JobOrigin:
    """This channel, where reminders and notices of an event proposed here go."""
    event = ctx.event
    return JobOrigin(
        platform=event.platform.value,
        server_id=event.server_id,
        channel_id=event.channel_id,
        entity_id=ctx.request.entity_id,
        channel_name=event.channel_name,
    )


def _number(ctx: Context, usage: str) -> int:
    if not ctx.args:
        raise CommandError(usage)
    return parse_number(ctx.args[0])


def _line(info: EventInfo, zone: str) -> str:
    """``#3 "Movie night" Sat 5 Dec 2026, 20:00 CET (2h)`` in the community's zone."""
    return (
        f"{info.label} {when(info.starts_at, zone)} ({length_text(info.starts_at, info.ends_at)})"
    )


async def _tell_proposer(ctx: Context, book: EventBook, info: EventInfo, outcome: str) -> None:
    """Tell the proposer in their channel: in this reply when that is here, else a notice."""
    origin = info.origin
    if origin is None:
        ctx.reply(f"Event {info.label} {outcome}.")
        return
    zone = (await ctx.time_zone()).key
    text = f"{info.mention(origin.platform)}, your event {_line(info, zone)} {outcome}."
    if origin.entity_id == ctx.request.entity_id:
        ctx.reply(fit(text))
        return
    await book.notify(info, fit(text))
    ctx.reply(f"Event {info.label} {outcome}; I told {info.proposer_name} in their channel.")


# --- !event ---------------------------------------------------------------------------------


@module.command(
    "event",
    usage="!event NUMBER | !event <add|approve|reject|cancel> …",
    description="Show, propose, approve, reject or cancel a community event.",
)
async def event(ctx: Context) -> None:
    if len(ctx.args) != 1:
        raise CommandError(USAGE)
    try:
        number = parse_number(ctx.args[0])
    except Invalid:
        raise CommandError(USAGE) from None
    book = _book(ctx)
    info = await book.get(ctx.community_id, number)
    if (
        info.status != APPROVED
        and not ctx.can(APPROVER)
        and info.proposed_by != await ctx.user_id()
    ):
        raise CommandError(f"Event #{number} does not exist.")
    zone = (await ctx.time_zone()).key
    text = _line(info, zone)
    if info.status != APPROVED:
        text += f" [{info.status}]"
    text += f", proposed by {info.proposer_name}"
    if info.description:
        text += f": {info.description}"
    if info.reason and info.status != APPROVED:
        text += f" (reason: {info.reason})"
    ctx.reply(fit(text))


@module.subcommand(
    "event",
    "add",
    usage=ADD_USAGE.removeprefix("Usage: "),
    description="Propose an event (in the community's time zone); moderators approve it.",
)
async def add(ctx: Context) -> None:
    args = ctx.args
    # the title runs up to the first word shaped like a date, so quotes are optional
    at = next((i for i, word in enumerate(args) if i > 0 and _date_shaped(word)), None)
    if at is None or at + 1 >= len(args):
        raise CommandError(ADD_USAGE)
    title, day, clock = " ".join(args[:at]), parse_day(args[at]), parse_clock(args[at + 1])
    rest = args[at + 2 :]
    length = DEFAULT_DURATION
    if rest and (parsed := parse_length(rest[0])) is not None:
        length, rest = parsed, rest[1:]
    zone = await ctx.time_zone()
    starts = on_day(day, clock, zone)
    caller = ctx.caller
    approved = ctx.can("calendar.autoapprove")
    book = _book(ctx)
    info = await book.propose(
        ctx.community_id,
        Draft(
            title=title,
            starts_at=starts.at,
            length=length,
            time_zone=zone.key,
            description=" ".join(rest),
        ),
        Proposer(
            name=caller.user.name,
            user_id=await ctx.user_id(),
            platform=ctx.platform.value,
            account=caller.user.id,
        ),
        _origin(ctx),
        approved=approved,
        remind_minutes=remind_minutes(ctx.config),
    )
    line = _line(info, zone.key)
    note = f" ({starts.note})" if starts.note else ""
    if approved:
        ctx.reply(f"Event {line} is on the calendar.{note}")
    else:
        ctx.reply(f"Event {line} is proposed; a moderator needs to approve it.{note}")


@module.subcommand(
    "event",
    "approve",
    usage="!event approve NUMBER",
    description="Approve a proposed event.",
    permission=APPROVER,
)
async def approve(ctx: Context) -> None:
    number = _number(ctx, "Usage: !event approve NUMBER")
    book = _book(ctx)
    info = await book.decide(
        ctx.community_id,
        number,
        approve=True,
        decider=await ctx.user_id(),
        remind_minutes=remind_minutes(ctx.config),
    )
    await _tell_proposer(ctx, book, info, "is approved")


@module.subcommand(
    "event",
    "reject",
    usage="!event reject NUMBER [reason]",
    description="Turn down a proposed event.",
    permission=APPROVER,
)
async def reject(ctx: Context) -> None:
    number = _number(ctx, "Usage: !event reject NUMBER [reason]")
    book = _book(ctx)
    reason = " ".join(ctx.args[1:])
    info = await book.decide(
        ctx.community_id, number, approve=False, decider=await ctx.user_id(), reason=reason
    )
    await _tell_proposer(
        ctx, book, info, f"was not approved: {info.reason}" if info.reason else "was not approved"
    )


@module.subcommand(
    "event",
    "cancel",
    usage="!event cancel NUMBER",
    description="Cancel an event you proposed (approvers: any event).",
)
async def cancel(ctx: Context) -> None:
    number = _number(ctx, "Usage: !event cancel NUMBER")
    book = _book(ctx)
    who = await ctx.user_id()
    info = await book.cancel(ctx.community_id, number, who=who, may_approve=ctx.can(APPROVER))
    if info.proposed_by == who:
        ctx.reply(f"Event {info.label} is cancelled.")
    else:
        await _tell_proposer(ctx, book, info, "is cancelled")


# --- !events --------------------------------------------------------------------------------


@module.command(
    "events",
    usage="!events | !events pending",
    description="The next approved events (in the community's time zone).",
)
async def events(ctx: Context) -> None:
    book = _book(ctx)
    found = await book.upcoming(ctx.community_id, limit=LISTED)
    zone = (await ctx.time_zone()).key
    if not found:
        ctx.reply('Nothing on the calendar. Propose something: !event add "Title" YYYY-MM-DD HH:MM')
        return
    ctx.reply(fit("Upcoming: " + "; ".join(_line(info, zone) for info in found)))


@module.subcommand(
    "events",
    "pending",
    usage="!events pending",
    description="Proposed events waiting for approval.",
    permission=APPROVER,
)
async def pending(ctx: Context) -> None:
    found = await _book(ctx).listing(ctx.community_id, PENDING, limit=LISTED)
    zone = (await ctx.time_zone()).key
    if not found:
        ctx.reply("No events are waiting for approval.")
        return
    ctx.reply(
        fit(
            "Waiting for approval: "
            + "; ".join(f"{_line(info, zone)} by {info.proposer_name}" for info in found)
            + " — !event approve|reject NUMBER"
        )
    )


# --- jobs -----------------------------------------------------------------------------------


@module.on_schedule(REMIND)
async def remind(ctx: Context) -> None:
    """Post the reminder, unless the event was cancelled (its job too, normally) meanwhile."""
    job = ctx.job
    assert job is not None
    book = _book(ctx)
    info = await book.by_id(str(job.payload.get("event", "")))
    if info is None or info.status != APPROVED or info.community_id != ctx.community_id:
        return
    minutes = round((info.starts_at - book.now()).total_seconds() / 60)
    if minutes < 0:
        return  # started already (a job run late within its grace): no point any more
    starts = "now" if minutes == 0 else f"in {minutes} minute{'s' if minutes != 1 else ''}"
    zone = (await ctx.time_zone()).key
    text = f"Reminder: {info.label} starts {starts} ({when(info.starts_at, zone)})"
    ctx.reply(fit(text + (f": {info.description}" if info.description else ".")))


@module.on_schedule(NOTICE)
async def notice(ctx: Context) -> None:
    """An outcome for a proposer, decided elsewhere (another channel, or over REST)."""
    job = ctx.job
    assert job is not None
    text = job.payload.get("text")
    if isinstance(text, str) and text:
        ctx.reply(text)


def _date_shaped(word: str) -> bool:
    """``dddd-dd-dd`` (or close to it): where the title ends, valid or not."""
    parts = word.split("-")
    return len(parts) == 3 and all(part.isdigit() for part in parts) and len(parts[0]) == 4
