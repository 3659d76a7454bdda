"""``waddlebot gateway``: the API gateway's configuration from the application's routes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

gateway_app = typer.Typer(
    help="The API gateway (Kong) in front of WaddleBot.", no_args_is_help=True
)


@gateway_app.command("kong-config")
def kong_config_command(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    upstream: Annotated[
        str, typer.Option(help="Each Kong service's URL; {service} is the WaddleBot service.")
    ] = "http://{service}:8000",
    key_auth: Annotated[
        bool,
        typer.Option(
            "--key-auth/--no-key-auth",
            help="key-auth on the API routes (needs Kong consumers: the Kong Admin Broker).",
        ),
    ] = True,
) -> None:
    """Kong's declarative configuration (format 3.0): every route of every service."""
    from waddlebot.gateway.kong_config import kong_config, render
    from waddlebot.gateway.routes import all_served_paths

    if "{service}" not in upstream:
        raise typer.BadParameter("must contain {service}", param_hint="--upstream")
    text = render(kong_config(all_served_paths(), upstream=upstream, key_auth=key_auth))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        typer.echo(f"wrote {output}", err=True)
