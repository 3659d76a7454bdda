"""Commands every community has: liveness, discovery and what this bot is."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from waddlebot import __version__
from waddlebot.kernel.contracts import CommandInfo
from waddlebot.sdk import CommandError, Context, Module, offered
from waddlebot.sdk.text import fit

module = Module(
    "core",
    version=__version__,
    description="Built-in basics: ping, help, command list and about.",
)


@module.command("ping", description="Check that the bot is alive.")
async def ping(ctx: Context) -> None:
    ctx.reply("pong")


@module.command(
    "help",
    usage="!help [command]",
    description="Explain a command, or list what you can use.",
)
async def help_(ctx: Context) -> None:
    commands = await _usable(ctx)
    if not ctx.args:
        names = ", ".join(f"{c.prefix}{c.trigger}" for c in commands)
        ctx.reply(fit(f"You can use: {names}. Type !help <command> for details."))
        return
    wanted = ctx.args[0].lstrip("!#").lower()
    for command in commands:
        if command.trigger == wanted:
            about = command.description or "No description."
            ctx.reply(f"{command.prefix}{command.trigger}: {about} Usage: {command.usage}")
            return
    raise CommandError(f"There is no command !{wanted} you can use here. Try !commands.")


@module.command("commands", description="List the commands you can use here.")
async def commands_(ctx: Context) -> None:
    commands = await _usable(ctx)
    names = ", ".join(f"{c.prefix}{c.trigger}" for c in commands)
    ctx.reply(fit(f"Commands: {names}"))


@module.command("about", description="What this bot is.")
async def about(ctx: Context) -> None:
    ctx.reply(
        f"WaddleBot {__version__}: a self-hosted community bot for Twitch, Discord and Slack. "
        "Type !commands to see what you can do."
    )


@module.command(
    "reload",
    permission="commands.manage",
    description="Reload the command table on every router (after editing commands).",
)
async def reload(ctx: Context) -> None:
    count = await ctx.host.reload_commands()
    ctx.reply(f"Command table reloaded: {count} commands.")


@module.command(
    "timezone",
    usage="!timezone [ZONE]",
    description="Show the community's time zone, or set it (an IANA name like Europe/Berlin).",
)
async def timezone(ctx: Context, zone: str | None = None) -> None:
    operations = offered(ctx.host.community(), "Community settings are not available here.")
    if zone is None:
        name = await operations.timezone(ctx.community_id)
        now = datetime.now(ZoneInfo(name)).strftime("%H:%M")
        ctx.reply(f"This community's time zone is {name} (it is {now} there).")
        return
    if "commands.manage" not in ctx.permissions:
        raise CommandError("Setting the time zone needs the commands.manage permission.")
    name = await operations.set_timezone(ctx.community_id, ctx.caller, zone)
    now = datetime.now(ZoneInfo(name)).strftime("%H:%M")
    ctx.reply(f"Time zone set to {name} (it is {now} there).")


async def _usable(ctx: Context) -> list[CommandInfo]:
    """Commands the caller may run here: their role is high enough and they hold the permission."""
    commands = await ctx.host.list_commands(ctx.request.community_id, ctx.role)
    return [c for c in commands if c.permission is None or ctx.can(c.permission)]
