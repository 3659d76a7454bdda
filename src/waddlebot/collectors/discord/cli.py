"""``waddlebot discord …``: operator commands for the Discord collector."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

discord_app = typer.Typer(help="Discord: slash-command sync.", no_args_is_help=True)


@discord_app.command("sync-commands")
def sync_commands_command(
    guild: Annotated[
        str | None, typer.Option(help="Register for one guild (instant) instead of globally.")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the commands without sending them.")] = False,
) -> None:
    """Generate slash commands from the command registry and bulk-overwrite them (PUT)."""
    from waddlebot.collectors.discord.commands import (
        registry_commands,
        slash_commands,
        sync_commands,
    )
    from waddlebot.collectors.discord.config import DiscordSettings
    from waddlebot.kernel.backends import open_backend
    from waddlebot.kernel.observability.logging import configure_logging
    from waddlebot.kernel.settings import Settings
    from waddlebot.kernel.storage import Database
    from waddlebot.modules import builtin_modules
    from waddlebot.router.registry import sync_module_commands

    settings = Settings()
    configure_logging("WARNING", settings.log_format)
    discord_settings = DiscordSettings()

    async def run() -> list[dict[str, Any]]:
        db = Database(settings.resolved_database_url)
        backend = await open_backend(settings.redis_url, namespace=settings.redis_namespace)
        try:
            await db.migrate()
            await sync_module_commands(db, builtin_modules())  # as the router does at start
            if dry_run:
                return slash_commands(await registry_commands(db, guild))
            return await sync_commands(db, backend.kv, discord_settings, guild)
        finally:
            await backend.close()
            await db.close()

    try:
        definitions = asyncio.run(run())
    except Exception as error:
        typer.echo(f"sync failed: {error}", err=True)
        raise typer.Exit(1) from None
    if dry_run:
        typer.echo(json.dumps(definitions, indent=2))
        return
    where = f"guild {guild}" if guild else "globally"
    names = ", ".join("/" + d["name"] for d in definitions)
    typer.echo(f"registered {len(definitions)} commands {where}: {names}")
