"""``waddlebot spotify``: connect a community's Spotify account (print the login URL), show
the connection, disconnect it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from waddlebot.kernel.settings import Settings

T = TypeVar("T")

spotify_app = typer.Typer(
    help="Song requests on Spotify: connect or disconnect a community's account.",
    no_args_is_help=True,
)

CommunityArgument = Annotated[str, typer.Argument(help="Community id or (unique) name.")]


def _with_accounts(work: Callable[..., Awaitable[T]], community: str) -> T:
    from waddlebot.kernel.errors import Refusal
    from waddlebot.kernel.storage import Database
    from waddlebot.kernel.storage.lookup import find_community
    from waddlebot.modules.music.spotify_auth import SpotifyAccounts, SpotifyConfig

    settings = Settings()

    async def run() -> T:
        db = Database(settings.resolved_database_url)
        try:
            await db.migrate()
            accounts = SpotifyAccounts(
                db, settings.secret_box, SpotifyConfig.from_settings(settings)
            )
            return await work(accounts, await find_community(db, community))
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except Refusal as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None


@spotify_app.command("login-url")
def login_url(community: CommunityArgument) -> None:
    """Print the URL the broadcaster opens (within 10 minutes) to connect their Spotify."""
    url = _with_accounts(lambda accounts, cid: accounts.login(cid), community)
    typer.echo("Open this as the broadcaster, logged in to Spotify (valid 10 min):", err=True)
    typer.echo(url)


@spotify_app.command("status")
def status(community: CommunityArgument) -> None:
    """Show which Spotify account the community plays on."""
    info = _with_accounts(lambda accounts, cid: accounts.connection(cid), community)
    if info is None:
        typer.echo("Spotify is not connected in this community.")
        raise typer.Exit(1)
    typer.echo(
        f"connected to {info.display_name} ({info.spotify_user_id}) since "
        f"{info.connected_at:%Y-%m-%d %H:%M} UTC; scopes: {info.scopes}"
    )


@spotify_app.command("disconnect")
def disconnect(community: CommunityArgument) -> None:
    """Forget the community's Spotify tokens."""
    gone = _with_accounts(lambda accounts, cid: accounts.disconnect(cid), community)
    typer.echo("disconnected Spotify" if gone else "Spotify was not connected")
