"""``waddlebot module``: check a manifest, print one, serve a module over HTTP."""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from waddlebot.cli.preflight import fail

if TYPE_CHECKING:
    from waddlebot.sdk import Module

module_app = typer.Typer(
    help="Module authors: validate manifests, serve a module over HTTP.", no_args_is_help=True
)


@module_app.command("validate")
def validate(
    path: Annotated[Path, typer.Argument(help="The manifest (JSON) to check.")],
) -> None:
    """Check a module manifest: fields, triggers, runtime and endpoint, config JSON Schema."""
    from waddlebot.sdk.manifest import ManifestInvalid, load_manifest

    try:
        manifest = load_manifest(path)
    except ManifestInvalid as invalid:
        typer.echo(f"{path}: invalid manifest", err=True)
        for problem in invalid.problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(1) from None
    commands = ", ".join(f"{c.prefix}{c.trigger}" for c in manifest.commands) or "no commands"
    typer.echo(f"{path}: ok — {manifest.name} {manifest.version} ({manifest.runtime}), {commands}")


@module_app.command("manifest")
def manifest(
    reference: Annotated[str, typer.Argument(help="package.module:attribute of an SDK module")],
    runtime: Annotated[str, typer.Option(help="http | lambda | openwhisk | builtin")] = "http",
    endpoint: Annotated[str | None, typer.Option(help="URL, function or action name")] = None,
) -> None:
    """Print the manifest of an SDK module, ready to publish."""
    module = _load(reference)
    described = module.manifest(runtime=runtime, endpoint=endpoint)  # type: ignore[arg-type]
    typer.echo(json.dumps(described.model_dump(mode="json"), indent=2))


@module_app.command("serve")
def serve(
    reference: Annotated[str, typer.Argument(help="package.module:attribute of an SDK module")],
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    secret: Annotated[
        str | None,
        typer.Option(help="Signing secret from the marketplace (or WADDLEBOT_MODULE_SECRET)."),
    ] = None,
) -> None:
    """Serve a module over HTTP; only requests signed with its secret are answered."""
    import uvicorn

    from waddlebot.sdk.adapters import http_app

    key = secret or os.environ.get("WADDLEBOT_MODULE_SECRET")
    if not key:
        raise typer.BadParameter("pass --secret or set WADDLEBOT_MODULE_SECRET")
    module = _load(reference)
    typer.echo(f"serving {module.name} {module.version} on http://{host}:{port}/", err=True)
    uvicorn.run(http_app(module, key), host=host, port=port, log_config=None, access_log=False)


def _load(reference: str) -> Module:
    """The SDK module ``reference`` names, or one line saying why it cannot be loaded."""
    from waddlebot.sdk.adapters import load_module

    try:
        return load_module(reference)
    except ValueError as error:  # not package.module:attribute, or not a Module
        fail(str(error))
    except ImportError as error:
        fail(f"cannot import {reference.partition(':')[0]!r}: {error}")
    except Exception as error:  # the module's own code failed on import
        where = traceback.extract_tb(error.__traceback__)[-1]
        fail(
            f"importing {reference!r} failed: {type(error).__name__}: {error} "
            f"({where.filename}:{where.lineno})"
        )
