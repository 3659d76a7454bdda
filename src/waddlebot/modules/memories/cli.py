"""``waddlebot quotes import``: bring a community's quotes over from another bot's CSV export
(the accepted columns, date forms and skip policy are in :mod:`.quote_import`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from waddlebot.kernel.settings import Settings

quotes_app = typer.Typer(help="A community's quotes.", no_args_is_help=True)


@dataclass(frozen=True, slots=True)
class Outcome:
    community_id: str
    numbers: list[int]
    skipped: list[tuple[int, str]]
    ignored_columns: list[str]


async def _import(settings: Settings, export: str, community: str, dry_run: bool) -> Outcome:
    from waddlebot.kernel.storage import Database
    from waddlebot.kernel.storage.lookup import community_timezone, find_community
    from waddlebot.modules.memories.quote_book import QuoteBook
    from waddlebot.modules.memories.quote_import import read_quotes

    db = Database(settings.resolved_database_url)
    try:
        await db.migrate()
        community_id = await find_community(db, community)
        book = QuoteBook(db)
        zone = ZoneInfo(await community_timezone(db, community_id, settings.default_timezone))
        plan = read_quotes(export, zone, await book.texts(community_id))
        numbers: list[int] = []
        if not dry_run:
            added = await book.add_many(community_id, [row.draft for row in plan.rows])
            numbers = [quote.number for quote in added]
        return Outcome(community_id, numbers, plan.skipped, plan.ignored_columns)
    finally:
        await db.close()


@quotes_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A CSV export with a header row.")],
    community: Annotated[str, typer.Option(help="The community's id (or unique name).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only report what would be imported.")
    ] = False,
) -> None:
    """Import quotes (columns text, author, date, game); unusable rows are skipped and listed
    with their line numbers, the rest are stored in one transaction."""
    from waddlebot.kernel.errors import Refusal
    from waddlebot.kernel.observability.logging import configure_logging
    from waddlebot.modules.memories.quote_import import UnreadableExport, load_export

    settings = Settings()
    configure_logging("WARNING", settings.log_format)  # the summary is the output
    try:
        export = load_export(file)
        outcome = asyncio.run(_import(settings, export, community, dry_run))
    except (UnreadableExport, Refusal) as error:
        typer.echo(f"Nothing imported: {error}", err=True)
        raise typer.Exit(1) from None
    if outcome.ignored_columns:
        typer.echo(f"Ignored column(s): {', '.join(outcome.ignored_columns)}")
    if dry_run:
        typer.echo("Dry run: nothing was stored.")
    elif outcome.numbers:
        first, last = outcome.numbers[0], outcome.numbers[-1]
        span = f"#{first}" if first == last else f"#{first}–#{last}"
        typer.echo(
            f"Imported {len(outcome.numbers)} quote(s) into {outcome.community_id} as {span}."
        )
    else:
        typer.echo(f"Imported no quotes into {outcome.community_id}.")
    if outcome.skipped:
        typer.echo(f"Skipped {len(outcome.skipped)} row(s):")
        for line, reason in outcome.skipped:
            typer.echo(f"  line {line}: {reason}")
    if not dry_run and not outcome.numbers and outcome.skipped:
        raise typer.Exit(1)
