"""``waddlebot overlays``: show, rotate and revoke a community's overlay URLs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from waddlebot.kernel.settings import Settings

T = TypeVar("T")

overlays_app = typer.Typer(
    help="OBS browser sources: the overlay URLs of a community.", no_args_is_help=True
)

CommunityArgument = Annotated[str, typer.Argument(help="Community id or (unique) name.")]
KindOption = Annotated[
    list[str] | None,
    typer.Option("--kind", help="ticker | media | general | alert; repeat; default: all."),
]


def _with_tokens(work: Callable[..., Awaitable[T]], community: str) -> T:
    from waddlebot.kernel.backends import open_backend
    from waddlebot.kernel.errors import Refusal
    from waddlebot.kernel.storage import Database
    from waddlebot.kernel.storage.lookup import find_community
    from waddlebot.overlays.tokens import OverlayTokens, UnknownCommunity

    settings = Settings()

    async def run() -> T:
        db = Database(settings.resolved_database_url)
        backend = await open_backend(settings.redis_url, namespace=settings.redis_namespace)
        try:
            await db.migrate()
            tokens = OverlayTokens(db, backend, settings)
            community_id = await find_community(db, community)
            return await work(tokens, community_id)
        finally:
            await backend.close()
            await db.close()

    try:
        return asyncio.run(run())
    except (Refusal, UnknownCommunity, ValueError) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None


def _print(urls: dict[str, str]) -> None:
    for kind, url in urls.items():
        typer.echo(f"{kind:<8} {url}")


@overlays_app.command("urls")
def urls(community: CommunityArgument) -> None:
    """Print the overlay URL of every kind (paste one into an OBS browser source)."""
    _print(_with_tokens(lambda tokens, cid: tokens.urls(cid), community))


@overlays_app.command("rotate")
def rotate(community: CommunityArgument, kind: KindOption = None) -> None:
    """Issue new URLs; the old ones stop working and open pages disconnect."""
    _print(_with_tokens(lambda tokens, cid: tokens.rotate(cid, kind), community))


@overlays_app.command("revoke")
def revoke(community: CommunityArgument, kind: KindOption = None) -> None:
    """Kill URLs without issuing new ones (`urls` issues fresh ones later)."""
    count = _with_tokens(lambda tokens, cid: tokens.revoke(cid, kind), community)
    typer.echo(f"revoked {count} overlay URL(s)")
