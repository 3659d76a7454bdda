"""``waddlebot twitch``: connect, reconcile, disconnect, status, login, login-url.

Each command opens the database and talks to Helix directly (no running server needed), with
the same settings a server would use.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from pydantic import BaseModel

from waddlebot.collectors.twitch.auth import (
    HelixError,
    TwitchAuthError,
    TwitchNotConfigured,
    UserToken,
)
from waddlebot.collectors.twitch.components import Twitch
from waddlebot.collectors.twitch.device_login import request_code, wait_for_tokens
from waddlebot.collectors.twitch.oauth import login_url
from waddlebot.collectors.twitch.settings import TwitchSettings
from waddlebot.collectors.twitch.subscriptions import ChannelNotFound
from waddlebot.collectors.twitch.transports import outside_the_service
from waddlebot.kernel.backends import open_backend
from waddlebot.kernel.observability.logging import configure_logging
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database

T = TypeVar("T")
twitch_app = typer.Typer(help="Twitch: connect channels, repair EventSub.", no_args_is_help=True)


def _run(work: Callable[[Twitch], Awaitable[T]]) -> T:
    """Open settings, database and Helix; run ``work``; turn known failures into exit 1."""
    core = Settings()
    configure_logging(core.log_level, core.log_format)

    async def main() -> T:
        db = Database(core.resolved_database_url, core.database_replica_urls)
        twitch = Twitch.build(TwitchSettings(), core, db)
        # Only Redis reaches a running bot; the embedded backend would be this process's own.
        backend = (
            await open_backend(core.redis_url, namespace=core.redis_namespace)
            if core.redis_url
            else None
        )
        try:
            await db.migrate()
            if twitch.settings.configured:
                await outside_the_service(twitch, backend)
            return await work(twitch)
        finally:
            await twitch.close()
            await db.close()
            if backend is not None:
                await backend.close()

    try:
        return asyncio.run(main())
    except (ChannelNotFound, ValueError, TwitchNotConfigured, TwitchAuthError, HelixError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None


def _print(model: BaseModel) -> None:
    typer.echo(model.model_dump_json(indent=2))


@twitch_app.command()
def connect(
    login: Annotated[str, typer.Argument(help="The channel's Twitch login.")],
    moderator: Annotated[
        bool, typer.Option("--moderator", help="The bot moderates this channel (100 msg/30 s).")
    ] = False,
) -> None:
    """Connect a channel: record it and create its EventSub subscriptions."""
    _print(_run(lambda t: t.subscriptions.connect(login, bot_is_moderator=moderator)))


@twitch_app.command()
def reconcile() -> None:
    """List EventSub subscriptions at Twitch and repair missing or revoked ones."""
    _print(_run(lambda t: t.subscriptions.reconcile()))


@twitch_app.command()
def disconnect(login: Annotated[str, typer.Argument(help="The channel's Twitch login.")]) -> None:
    """Delete the channel's EventSub subscriptions and forget it."""
    deleted = _run(lambda t: t.subscriptions.disconnect(login))
    typer.echo(f"disconnected {login}: {deleted} subscriptions deleted")


@twitch_app.command()
def status(login: Annotated[str, typer.Argument(help="The channel's Twitch login.")]) -> None:
    """Show a connected channel and the state of each of its subscriptions."""
    _print(_run(lambda t: t.subscriptions.status(login)))


@twitch_app.command()
def login() -> None:
    """Authorise the bot account with a device code: no public URL or client secret needed."""

    async def device_login(twitch: Twitch) -> UserToken:
        code = await request_code(twitch.auth)
        minutes = max(1, round((code.expires_at - time.monotonic()) / 60))
        typer.echo(
            f"Sign in to Twitch as the bot account, open {code.verification_uri}\n"
            f"and enter the code {code.user_code} (valid for {minutes} min). Waiting…"
        )
        return await wait_for_tokens(twitch.auth, code)

    token = _run(device_login)
    typer.echo(f"authorised: the bot speaks as {token.login} (id {token.user_id})")


@twitch_app.command("login-url")
def login_url_command() -> None:
    """Print a link that authorises the bot account (valid for the state lifetime)."""

    async def url(twitch: Twitch) -> str:
        return login_url(twitch)

    typer.echo(_run(url))
