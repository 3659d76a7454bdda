"""``!command`` (manage a community's commands) and the custom commands themselves.

The router refuses every ``!command`` subcommand without ``commands.manage`` before this
module runs. Custom commands reach :func:`answer` through the router's command table (a
community row per command, carrying its role and cooldown, which the router applies); the
host's :class:`~waddlebot.sdk.custom_commands.CustomCommandOperations` stores them and keeps
a per-process cache, so answering costs no database read, and one atomic write when the
response uses ``{count}``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

from waddlebot import __version__
from waddlebot.custom_commands.template import Template, TemplateError, Values, parse, render
from waddlebot.kernel.contracts import MESSAGE_LIMITS, EventType
from waddlebot.sdk import CommandError, Context, Module
from waddlebot.sdk.custom_commands import (
    CustomCommandError,
    CustomCommandInfo,
    CustomCommandOperations,
)
from waddlebot.sdk.errors import offered
from waddlebot.sdk.members import MemberError
from waddlebot.sdk.text import fit

module = Module(
    "custom-commands",
    version=__version__,
    description="A community's own text commands (!command add), and turning commands on/off.",
)

OPTION = re.compile(r"--(cooldown|role)=(\S*)", re.IGNORECASE)
USAGE_ADD = "!command add <name> [--cooldown=SECONDS] [--role=ROLE] <response>"
USAGE_EDIT = "!command edit <name> [--cooldown=SECONDS] [--role=ROLE] [<response>]"


def _operations(ctx: Context) -> CustomCommandOperations:
    return offered(ctx.host.custom_commands(), "Custom commands are not available here.")


@module.command(
    "command",
    usage="!command <add|edit|remove|show|enable|disable> <name> …",
    description="Add, edit, remove or show custom commands; turn any command on or off.",
    permission="commands.manage",
)
async def command(ctx: Context) -> None:
    raise CommandError(
        f"Usage: {USAGE_ADD} | !command edit <name> … | !command remove <name> | "
        "!command show <name> | !command enable <name> | !command disable <name>"
    )


@module.subcommand(
    "command",
    "add",
    usage=USAGE_ADD,
    description="Add a custom command answering with a template, e.g. {user}, {count}.",
    permission="commands.manage",
)
async def add(ctx: Context) -> None:
    name, cooldown, role, response = _definition(ctx, USAGE_ADD)
    if not response:
        raise CommandError(f"Usage: {USAGE_ADD}")
    saved = await _save(ctx, name, response, cooldown, role, create=True)
    ctx.reply(f"!{saved.name} added{_options(saved)}.")


@module.subcommand(
    "command",
    "edit",
    usage=USAGE_EDIT,
    description="Change a custom command's response, cooldown or role.",
    permission="commands.manage",
)
async def edit(ctx: Context) -> None:
    name, cooldown, role, response = _definition(ctx, USAGE_EDIT)
    if not response and cooldown is None and role is None:
        raise CommandError(f"Usage: {USAGE_EDIT}")
    saved = await _save(ctx, name, response or None, cooldown, role, create=False)
    ctx.reply(f"!{saved.name} updated{_options(saved)}.")


@module.subcommand(
    "command",
    "remove",
    usage="!command remove <name>",
    description="Delete a custom command.",
    permission="commands.manage",
)
async def remove(ctx: Context, name: str) -> None:
    try:
        removed = await _operations(ctx).remove(ctx.community_id, ctx.caller, name)
    except CustomCommandError as refusal:
        raise CommandError(refusal.message) from None
    ctx.reply(f"{removed} removed.")


@module.subcommand(
    "command",
    "show",
    usage="!command show <name>",
    description="A custom command's response, role, cooldown and use count.",
    permission="commands.manage",
)
async def show(ctx: Context, name: str) -> None:
    try:
        found = await _operations(ctx).show(ctx.community_id, name)
    except CustomCommandError as refusal:
        raise CommandError(refusal.message) from None
    state = "" if found.enabled else ", disabled"
    ctx.reply(
        _fit(
            ctx,
            f"!{found.name}{_options(found)}{state}, used {_times(found.count)}: {found.response}",
        )
    )


@module.subcommand(
    "command",
    "enable",
    usage="!command enable <name>",
    description="Turn a command back on in this community.",
    permission="commands.manage",
)
async def enable(ctx: Context, name: str) -> None:
    await _switch(ctx, name, enabled=True)


@module.subcommand(
    "command",
    "disable",
    usage="!command disable <name>",
    description="Turn a command off in this community.",
    permission="commands.manage",
)
async def disable(ctx: Context, name: str) -> None:
    await _switch(ctx, name, enabled=False)


async def _switch(ctx: Context, name: str, *, enabled: bool) -> None:
    members = offered(ctx.host.members(), "Switching commands is not available here.")
    try:
        switched = await members.set_command_enabled(ctx.community_id, ctx.caller, name, enabled)
    except MemberError as refusal:
        raise CommandError(refusal.message) from None
    ctx.reply(f"{switched} is now {'enabled' if enabled else 'disabled'} here.")


@module.dynamic_commands
async def answer(ctx: Context) -> None:
    """A custom command: render its template for this caller."""
    name = ctx.command or ""
    operations = _operations(ctx)
    found = await operations.find(ctx.community_id, name)
    if found is None:
        raise CommandError(f"!{name} no longer exists here.")
    try:
        template = _compiled(found.response)
    except TemplateError as error:  # saved before a rule changed (e.g. a time zone retired)
        raise CommandError(
            f"!{name} needs fixing ({error.message}): !command edit {name} …"
        ) from None
    count = await operations.count_use(ctx.community_id, name) if template.uses_count else 0
    live_since = await _live_since(ctx) if "uptime" in template.names else None
    event = ctx.event
    values = Values(
        user=ctx.user_name,
        args=tuple(ctx.args),
        channel=event.channel_name or event.channel_id,
        count=count,
        live_since=live_since,
    )
    ctx.reply(_fit(ctx, render(template, values)))


@module.on_event(EventType.stream_online, EventType.stream_offline)
async def stream_state(ctx: Context) -> None:
    """Remember when this channel's stream went live, for ``{uptime}``."""
    key = f"live:{ctx.request.entity_id}"
    if ctx.event.type == EventType.stream_offline:
        await ctx.storage.delete(key)
        return
    started = ctx.event.data.get("started_at")
    await ctx.storage.set(
        key, started if isinstance(started, str) else ctx.event.received_at.isoformat()
    )


async def _live_since(ctx: Context) -> datetime | None:
    stored = await ctx.storage.get(f"live:{ctx.request.entity_id}")
    if not isinstance(stored, str):
        return None
    try:
        moment = datetime.fromisoformat(stored.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@lru_cache(maxsize=2048)
def _compiled(response: str) -> Template:
    return parse(response)  # stored responses were checked when saved


def _fit(ctx: Context, text: str) -> str:
    return fit(text, MESSAGE_LIMITS[ctx.platform])


async def _save(
    ctx: Context,
    name: str,
    response: str | None,
    cooldown: float | None,
    role: str | None,
    *,
    create: bool,
) -> CustomCommandInfo:
    try:
        return await _operations(ctx).save(
            ctx.community_id,
            ctx.caller,
            name,
            response,
            cooldown=cooldown,
            role=role,
            create=create,
        )
    except CustomCommandError as refusal:
        raise CommandError(refusal.message) from None


def _definition(ctx: Context, usage: str) -> tuple[str, float | None, str | None, str]:
    """``NAME [--cooldown=S] [--role=R] RESPONSE`` from the message as typed (the response
    keeps its spacing and quotes)."""
    raw = ctx.request.raw_text.strip()
    head = re.match(r"[!#]\S+\s+\S+\s+(\S+)\s*", raw)
    if head is None:
        raise CommandError(f"Usage: {usage}")
    name, rest = head.group(1), raw[head.end() :]
    cooldown: float | None = None
    role: str | None = None
    while True:
        option = OPTION.match(rest)
        if option is None:
            break
        key, value = option.group(1).lower(), option.group(2)
        if key == "cooldown":
            try:
                cooldown = float(value)
            except ValueError:
                raise CommandError(f"--cooldown needs seconds, not {value!r}.") from None
        else:
            role = value
        rest = rest[option.end() :].lstrip()
    if rest == "--" or rest.startswith("-- "):
        rest = rest[2:]  # "--" ends the options: the response may start with "--"
    elif rest.startswith("--"):
        raise CommandError(
            f"Unknown option {rest.split()[0]!r}; use --cooldown= or --role= "
            "(or -- before a response that starts with --)."
        )
    return name, cooldown, role, rest.strip()


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _options(found: CustomCommandInfo) -> str:
    parts = []
    if found.role != "everyone":
        parts.append(f"{found.role}s and above")
    if found.cooldown:
        parts.append(f"cooldown {found.cooldown:g}s")
    return f" ({', '.join(parts)})" if parts else ""
