"""What the community overview shows: the latest commands from the execution log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import CommandExecution, Entity, User

RECENT = 50


@dataclass(frozen=True, slots=True)
class RecentCommand:
    """One row of the execution log, with names instead of ids."""

    started_at: datetime
    trigger: str
    module: str | None
    status: str
    detail: str | None
    total_ms: float
    user: str | None
    channel: str | None
    platform: str | None


async def recent_commands(
    db: Database, community_id: str, limit: int = RECENT
) -> list[RecentCommand]:
    """The community's latest ``limit`` command runs, newest first (one indexed query)."""
    async with db.read_session() as session:
        rows = (
            await session.execute(
                select(
                    CommandExecution,
                    User.display_name,
                    Entity.name,
                    Entity.channel_id,
                    Entity.platform,
                )
                .outerjoin(User, User.id == CommandExecution.user_id)
                .outerjoin(Entity, Entity.id == CommandExecution.entity_id)
                .where(CommandExecution.community_id == community_id)
                .order_by(CommandExecution.started_at.desc(), CommandExecution.id.desc())
                .limit(limit)
            )
        ).all()
    return [
        RecentCommand(
            started_at=run.started_at,
            trigger=run.trigger,
            module=run.module,
            status=run.status,
            detail=run.detail,
            total_ms=run.total_ms,
            user=user,
            channel=name or channel_id,
            platform=platform,
        )
        for run, user, name, channel_id, platform in rows
    ]
