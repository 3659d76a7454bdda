"""Alembic environment: runs on the connection handed over by ``Database.migrate``."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from waddlebot.kernel.storage.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_standalone() -> None:
    """For ``alembic`` invoked directly (autogenerate): connect to WADDLEBOT_DATABASE_URL."""
    from waddlebot.kernel.settings import Settings
    from waddlebot.kernel.storage.database import create_engine

    async def main() -> None:
        engine = create_engine(Settings().resolved_database_url)
        async with engine.begin() as connection:
            await connection.run_sync(_run)
        await engine.dispose()

    asyncio.run(main())


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    _run_standalone()
