"""``waddlebot calendar``: show, rotate and revoke a community's iCalendar feed URL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from waddlebot.kernel.settings import Settings

T = TypeVar("T")

calendar_app = typer.Typer(
    help="Community calendar: the iCalendar feed URL of a community.", no_args_is_help=True
)

CommunityArgument = Annotated[str, typer.Argument(help="Community id or (unique) name.")]


def _with_tokens(work: Callable[..., Awaitable[T]], community: str) -> T:
    from waddlebot.kernel.errors import Refusal
    from waddlebot.kernel.storage import Database
    from waddlebot.kernel.storage.lookup import find_community
    from waddlebot.modules.calendar.feed import FeedTokens

    settings = Settings()

    async def run() -> T:
        db = Database(settings.resolved_database_url)
        try:
            await db.migrate()
            tokens = FeedTokens(db, settings.secret_box, settings.public_url)
            return await work(tokens, await find_community(db, community))
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except Refusal as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None


@calendar_app.command("url")
def url(community: CommunityArgument) -> None:
    """Print the feed URL (issued on first use); subscribe to it in any calendar app."""
    typer.echo(_with_tokens(lambda tokens, cid: tokens.url(cid), community))


@calendar_app.command("rotate")
def rotate(community: CommunityArgument) -> None:
    """Issue a new feed URL; the old one answers 404 from now on."""
    typer.echo(_with_tokens(lambda tokens, cid: tokens.rotate(cid), community))


@calendar_app.command("revoke")
def revoke(community: CommunityArgument) -> None:
    """Kill the feed URL without a new one (`url` issues a fresh one later)."""
    revoked = _with_tokens(lambda tokens, cid: tokens.revoke(cid), community)
    typer.echo("revoked the calendar feed URL" if revoked else "there was no calendar feed URL")
