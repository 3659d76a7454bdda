"""``waddlebot commands import``: bring a community's custom commands over from another bot."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from waddlebot.kernel.settings import Settings

if TYPE_CHECKING:
    from waddlebot.custom_commands.importers import Report

commands_app = typer.Typer(help="A community's custom commands.", no_args_is_help=True)


async def _import(settings: Settings, tool: str, path: Path, community: str) -> tuple[str, Report]:
    from waddlebot.custom_commands.importers import import_commands, read_export
    from waddlebot.custom_commands.manager import CustomCommandManager
    from waddlebot.kernel.backends import open_backend
    from waddlebot.kernel.storage import Database
    from waddlebot.kernel.storage.lookup import find_community

    translation = read_export(tool, path)  # an unreadable file fails before any connection
    db = Database(settings.resolved_database_url)
    backend = await open_backend(settings.redis_url, namespace=settings.redis_namespace)
    try:
        await db.migrate()
        community_id = await find_community(db, community)
        manager = CustomCommandManager(db, backend.kv, backend.pubsub)
        report = await import_commands(manager, community_id, translation, f"import:{tool}")
        return community_id, report
    finally:
        await backend.close()
        await db.close()


@commands_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="The other bot's export file.")],
    tool: Annotated[
        str,
        typer.Option("--from", help="nightbot, streamelements, streamlabs, phantombot or firebot."),
    ],
    community: Annotated[str, typer.Option(help="The community's id (or unique name).")],
) -> None:
    """Import custom commands; each one we cannot translate faithfully is skipped and listed."""
    from waddlebot.custom_commands.importers import UnreadableExport
    from waddlebot.kernel.errors import Refusal
    from waddlebot.kernel.observability.logging import configure_logging

    settings = Settings()
    configure_logging("WARNING", settings.log_format)  # the summary is the output
    try:
        community_id, report = asyncio.run(_import(settings, tool.lower(), file, community))
    except (UnreadableExport, Refusal) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Imported {len(report.imported)} command(s) from {tool} into {community_id}:")
    for command in report.imported:
        notes = f"  ({'; '.join(command.notes)})" if command.notes else ""
        typer.echo(f"  !{command.name}{notes}")
    typer.echo(f"Skipped {len(report.skipped)}:")
    for skipped in report.skipped:
        typer.echo(f"  {skipped.name}: {skipped.reason}")
