"""``waddlebot spotify``: connect a community's Spotify account (print the login URL), show
the connection, disconnect it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from waddlebot.kernel.commandline import for_community
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database
from waddlebot.modules.music.spotify_auth import SpotifyAccounts, SpotifyConfig

T = TypeVar("T")

spotify_app = typer.Typer(
    help="Song requests on Spotify: connect or disconnect a community's account.",
    no_args_is_help=True,
)

CommunityArgument = Annotated[str, typer.Argument(help="Community id or (unique) name.")]


def _with_accounts(work: Callable[[SpotifyAccounts, str], Awaitable[T]], community: str) -> T:
    async def run(db: Database, settings: Settings, community_id: str) -> T:
        accounts = SpotifyAccounts(db, settings.secret_box, SpotifyConfig.from_settings(settings))
        return await work(accounts, community_id)

    return for_community(community, run)


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
