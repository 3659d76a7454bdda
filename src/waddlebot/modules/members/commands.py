"""Community roles from chat, through the host's member operations.

The router refuses ``!role grant``/``revoke`` without ``members.manage`` before this module
runs; the host applies the rank rules (roles below your own, unless owner; the last owner
stays). ``!command`` (enable/disable and custom commands) lives in ``custom-commands``.
"""

from __future__ import annotations

from waddlebot import __version__
from waddlebot.sdk import CommandError, Context, Module
from waddlebot.sdk.errors import offered
from waddlebot.sdk.members import MemberError, MemberOperations, MemberRole
from waddlebot.sdk.text import fit

module = Module(
    "members",
    version=__version__,
    description="Community roles (owner, admin, moderator, member).",
)

LISTED = ("owner", "admin", "moderator")


def _operations(ctx: Context) -> MemberOperations:
    return offered(ctx.host.members(), "Community roles are not available here.")


def _plural(role: str) -> str:
    return f"{role}s"


@module.command(
    "role",
    usage="!role <show|list|grant|revoke>",
    description="Community roles: show yours or someone's, list them, grant and revoke.",
)
async def role(ctx: Context) -> None:
    if ctx.args:
        raise CommandError(
            "Usage: !role show [user] | !role list | !role grant <user> <role> | "
            "!role revoke <user>"
        )
    await show(ctx)


@module.subcommand(
    "role",
    "show",
    usage="!role show [user]",
    description="Your role here, or someone else's.",
)
async def show(ctx: Context, user: str | None = None) -> None:
    caller = ctx.caller
    try:
        found = await _operations(ctx).role_of(ctx.community_id, caller, user)
    except MemberError as refusal:
        raise CommandError(refusal.message) from None
    if user is None:
        if found.role is None:
            ctx.reply("You have no role here.")
        else:
            origin = " (from your platform role)" if found.from_platform else ""
            ctx.reply(f"Your role here: {found.role}{origin}.")
        return
    if found.role is None:
        ctx.reply(f"{found.name} has no role here.")
    else:
        ctx.reply(f"{found.name} is {found.role} here.")


@module.subcommand("role", "list", description="Who holds owner, admin and moderator here.")
async def list_(ctx: Context) -> None:
    holders = await _operations(ctx).role_holders(ctx.community_id, ctx.platform.value)
    ctx.reply(fit(_listing(holders)))


@module.subcommand(
    "role",
    "grant",
    usage="!role grant <user> <role>",
    description="Give someone a role below your own (owner, admin, moderator, member).",
    permission="members.manage",
)
async def grant(ctx: Context, user: str, role: str) -> None:
    try:
        granted = await _operations(ctx).grant(ctx.community_id, ctx.caller, user, role)
    except MemberError as refusal:
        raise CommandError(refusal.message) from None
    ctx.reply(f"{granted.name} is now {granted.role} here.")


@module.subcommand(
    "role",
    "revoke",
    usage="!role revoke <user>",
    description="Take someone's role away (roles below your own).",
    permission="members.manage",
)
async def revoke(ctx: Context, user: str) -> None:
    try:
        revoked = await _operations(ctx).revoke(ctx.community_id, ctx.caller, user)
    except MemberError as refusal:
        raise CommandError(refusal.message) from None
    ctx.reply(f"{revoked.name} no longer has a role here (was {revoked.role}).")


def _listing(holders: list[MemberRole]) -> str:
    parts = []
    for role in LISTED:
        names = [h.name for h in holders if h.role == role]
        parts.append(f"{_plural(role).capitalize()}: {', '.join(names) or 'none'}")
    return "; ".join(parts) + "."
