"""Link platform accounts into one WaddleBot user, through the host's identity operations."""

from __future__ import annotations

from waddlebot import __version__
from waddlebot.sdk import CommandError, Context, Module
from waddlebot.sdk.errors import offered
from waddlebot.sdk.identity import IdentityError, IdentityOperations, LinkedAccount

module = Module(
    "identity",
    version=__version__,
    description="Link your accounts on several platforms into one WaddleBot user.",
)


def _operations(ctx: Context) -> IdentityOperations:
    return offered(ctx.host.identity(), "Account linking is not available here.")


def _caller(ctx: Context) -> tuple[str, str]:
    if ctx.user is None:
        raise CommandError("I cannot tell who you are on this platform.")
    return ctx.platform.value, ctx.user.id


async def _me(ctx: Context, operations: IdentityOperations) -> str:
    platform, account = _caller(ctx)
    user_id = await operations.user_of(platform, account)
    if user_id is None:
        raise CommandError("I don't know you yet; say something and try again.")
    return user_id


def _describe(accounts: list[LinkedAccount]) -> str:
    return ", ".join(f"{a.platform}:{a.username}" for a in accounts) or "none"


@module.subcommand(
    "identity",
    "link",
    usage="!identity link <platform> <username>",
    description="Send a one-time code to your account on another platform.",
)
async def link(ctx: Context, platform: str, username: str) -> None:
    operations = _operations(ctx)
    source, account = _caller(ctx)
    try:
        target = await operations.request_link(
            platform=source,
            platform_user_id=account,
            target_platform=platform,
            target_username=username.lstrip("@"),
            event_id=ctx.event.id,
        )
    except IdentityError as refusal:
        raise CommandError(refusal.message) from None
    ctx.reply(
        f"I sent a code to {target.username} on {target.platform}. Type !verify CODE there "
        "within 10 minutes."
    )


@module.subcommand("identity", "status", description="List the accounts linked to you.")
async def status(ctx: Context) -> None:
    operations = _operations(ctx)
    accounts = await operations.accounts(await _me(ctx, operations))
    ctx.reply(f"Linked accounts: {_describe(accounts)}")


@module.subcommand(
    "identity",
    "unlink",
    usage="!identity unlink <platform>",
    description="Detach your account on a platform.",
)
async def unlink(ctx: Context, platform: str) -> None:
    operations = _operations(ctx)
    try:
        detached = await operations.unlink(await _me(ctx, operations), platform)
    except IdentityError as refusal:
        raise CommandError(refusal.message) from None
    ctx.reply(f"Unlinked {_describe(detached)}.")


@module.command("verify", usage="!verify CODE", description="Confirm an account link.")
async def verify(ctx: Context, code: str) -> None:
    operations = _operations(ctx)
    platform, account = _caller(ctx)
    try:
        user_id = await operations.verify(platform=platform, platform_user_id=account, code=code)
    except IdentityError as refusal:
        raise CommandError(refusal.message) from None
    accounts = await operations.accounts(user_id)
    ctx.reply(f"Linked! Your accounts: {_describe(accounts)}")


@module.command("whoami", description="Who the bot thinks you are and your role here.")
async def whoami(ctx: Context) -> None:
    operations = _operations(ctx)
    user_id = await _me(ctx, operations)
    accounts = await operations.accounts(user_id)
    role = ctx.community_role or ctx.role.name
    ctx.reply(
        f"You are {ctx.user_name} (user {user_id}), role here: {role}; "
        f"accounts: {_describe(accounts)}"
    )
