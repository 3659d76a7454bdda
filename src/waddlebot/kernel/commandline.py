"""What a ``waddlebot <feature> … COMMUNITY`` command does around its own work: open the
configured database (migrated), find the community by id or unique name, run, close, and turn
a refusal into one line on stderr with exit code 1 instead of a traceback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

from waddlebot.kernel.errors import Refusal
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.lookup import find_community

T = TypeVar("T")

CommunityWork = Callable[[Database, Settings, str], Awaitable[T]]


def for_community(community: str, work: CommunityWork[T]) -> T:
    """Run ``work(db, settings, community_id)`` for the community named ``community``."""
    settings = Settings()

    async def run() -> T:
        db = Database(settings.resolved_database_url)
        try:
            await db.migrate()
            return await work(db, settings, await find_community(db, community))
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except Refusal as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
