"""``waddlebot slack …``: operator commands for the Slack collector."""

from __future__ import annotations

import asyncio

import typer

slack_app = typer.Typer(help="Slack: install link and installed workspaces.", no_args_is_help=True)


@slack_app.command("install-url")
def install_url() -> None:
    """Print the URL an admin opens to install the app in a workspace (OAuth)."""
    from waddlebot.kernel.settings import Settings

    typer.echo(Settings().public_url.rstrip("/") + "/auth/slack/install")


@slack_app.command("installations")
def installations() -> None:
    """List the workspaces that installed the app (tokens are never printed)."""
    from sqlalchemy import select

    from waddlebot.collectors.slack.models import SlackInstallation
    from waddlebot.kernel.settings import Settings
    from waddlebot.kernel.storage import Database

    settings = Settings()

    async def run() -> list[SlackInstallation]:
        db = Database(settings.resolved_database_url)
        try:
            await db.migrate()
            async with db.read_session() as session:
                return list((await session.scalars(select(SlackInstallation))).all())
        finally:
            await db.close()

    rows = asyncio.run(run())
    if not rows:
        typer.echo("no workspace has installed the app yet")
    for row in rows:
        typer.echo(
            f"{row.team_id}\t{row.team_name}\tbot {row.bot_user_id}\t{row.installed_at:%Y-%m-%d}"
        )
