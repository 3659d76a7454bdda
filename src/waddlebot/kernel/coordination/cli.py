"""``waddlebot coordination status``: live instances and who holds which item."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from waddlebot.kernel.coordination.status import coordination_view
from waddlebot.kernel.settings import Settings

coordination_app = typer.Typer(
    help="Coordination: instances and the items they hold leases on.", no_args_is_help=True
)


@coordination_app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the view as JSON.")] = False,
) -> None:
    """Show live instances and every lease held now (read from Redis)."""
    settings = Settings()
    if not settings.redis_url:
        typer.echo(
            "embedded mode: leases live inside the running process; "
            "ask it: GET /api/coordination/v1/leases",
            err=True,
        )
        raise typer.Exit(1)

    async def read() -> dict[str, Any]:
        from waddlebot.kernel.backends import open_backend

        backend = await open_backend(settings.redis_url, namespace=settings.redis_namespace)
        try:
            return await coordination_view(backend.leases)
        finally:
            await backend.close()

    view = asyncio.run(read())
    if as_json:
        typer.echo(json.dumps(view, indent=2))
        return
    typer.echo(f"{len(view['instances'])} live instance(s), {len(view['leases'])} lease(s)")
    for instance in view["instances"]:
        typer.echo(
            f"  {instance['id']}: {instance['held']} held, "
            f"heartbeat lapses in {instance['expires_in']:.1f}s"
        )
    for lease in view["leases"]:
        typer.echo(
            f"{lease['item']}\t{lease['holder']}\ttoken {lease['token']}\t"
            f"{lease['expires_in']:.1f}s left"
        )
