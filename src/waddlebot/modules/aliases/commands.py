"""Aliases from chat, through the host's alias operations.

``!alias`` lists, ``!alias NAME`` shows, ``!alias NAME='!target args…'`` (quotes optional)
defines, ``!unalias NAME`` removes. The router refuses both without ``commands.manage`` before
this module runs, and expands aliases itself (see :mod:`waddlebot.aliases.expand`), so this
module only edits them.
"""

from __future__ import annotations

import re

from waddlebot import __version__
from waddlebot.sdk import CommandError, Context, Module
from waddlebot.sdk.aliases import AliasError, AliasOperations
from waddlebot.sdk.errors import offered
from waddlebot.sdk.text import fit

module = Module(
    "aliases",
    version=__version__,
    description="Linux-style aliases: short names for command lines, with $1…$9, $@ and $user.",
)

USAGE = "Usage: !alias | !alias NAME | !alias NAME='!command args…' | !unalias NAME"
DEFINITION = re.compile(
    r"""^(?P<name>[^\s=]+)\s*(?:=\s*(?P<value>.*)|\s+(?P<bare>["']?[!#].*))?$""", re.S
)


def _operations(ctx: Context) -> AliasOperations:
    return offered(ctx.host.aliases(), "Aliases are not available here.")


@module.command(
    "alias",
    usage="!alias [NAME[='!command args…']]",
    description="List, show or define aliases ($1…$9, $@ and $user expand).",
    permission="commands.manage",
)
async def alias(ctx: Context) -> None:
    rest = _after_trigger(ctx.request.raw_text)
    operations = _operations(ctx)
    if not rest:
        found = await operations.aliases(ctx.community_id)
        if not found:
            ctx.reply("No aliases here yet. " + USAGE)
            return
        ctx.reply(fit("Aliases: " + ", ".join(f"!{a.name}={a.target}" for a in found)))
        return
    match = DEFINITION.match(rest)
    if match is None:
        raise CommandError(USAGE)
    value = match.group("value")
    if value is None:
        value = match.group("bare")
    if value is None:
        shown = await operations.alias(ctx.community_id, match.group("name"))
        if shown is None:
            raise CommandError(f"There is no alias !{match.group('name').lstrip('!')} here.")
        ctx.reply(f"!{shown.name}='{shown.target}'")
        return
    try:
        defined, created = await operations.define(
            ctx.community_id, ctx.caller, match.group("name"), _unquote(value.strip())
        )
    except AliasError as refusal:
        raise CommandError(refusal.message) from None
    if created:
        ctx.reply(f"!{defined.name} is now an alias for {defined.target}.")
    else:
        ctx.reply(f"!{defined.name} now runs {defined.target}.")


@module.command(
    "unalias",
    usage="!unalias NAME",
    description="Remove an alias.",
    permission="commands.manage",
)
async def unalias(ctx: Context, name: str) -> None:
    try:
        removed = await _operations(ctx).remove(ctx.community_id, ctx.caller, name)
    except AliasError as refusal:
        raise CommandError(refusal.message) from None
    ctx.reply(f"Alias !{removed.name} removed (it ran {removed.target}).")


def _after_trigger(raw: str) -> str:
    """``!alias so='!shoutout $1'`` → ``so='!shoutout $1'`` (spacing inside kept)."""
    parts = raw.strip().split(maxsplit=1)
    return parts[1].strip() if len(parts) == 2 else ""


def _unquote(value: str) -> str:
    """``'!so $1'`` or ``"!so $1"`` → ``!so $1``; unquoted values are taken as they are."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1].strip()
    return value
