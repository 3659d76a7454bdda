"""``waddlebot calendar``: show, rotate and revoke a community's iCalendar feed URL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from waddlebot.kernel.commandline import for_community
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database
from waddlebot.modules.calendar.feed import FeedTokens

T = TypeVar("T")

calendar_app = typer.Typer(
    help="Community calendar: the iCalendar feed URL of a community.", no_args_is_help=True
)

CommunityArgument = Annotated[str, typer.Argument(help="Community id or (unique) name.")]


def _with_tokens(work: Callable[[FeedTokens, str], Awaitable[T]], community: str) -> T:
    async def run(db: Database, settings: Settings, community_id: str) -> T:
        return await work(FeedTokens(db, settings.secret_box, settings.public_url), community_id)

    return for_community(community, run)


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
