"""The scheduler's table: one row per job, from scheduled to done.

Created by migration ``0002_scheduler`` (a branch off the core revision).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.kernel.storage.models import Base, new_id, utcnow

PENDING = "pending"  # waiting for due_at
RUNNING = "running"  # claimed: lease_owner holds it until lease_expires_at
DONE = "done"
FAILED = "failed"  # gave up after the last attempt
DROPPED = "dropped"  # later than its grace when it could run
CANCELLED = "cancelled"


class ScheduledJobRow(Base):
    """A durable job: run ``module``'s ``handler`` for ``community_id`` at ``due_at``.

    ``dedupe_key`` is held while the job is pending or running (unique per module and
    community) and cleared when it finishes, so the key can be used again.
    """

    __tablename__ = "scheduled_jobs"
    __table_args__ = (
        UniqueConstraint("module", "community_id", "dedupe_key"),
        Index("ix_scheduled_jobs_status_due_at", "status", "due_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    module: Mapped[str] = mapped_column(String(64))
    handler: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    due_at: Mapped[datetime]
    grace: Mapped[float] = mapped_column(Float)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    origin_platform: Mapped[str] = mapped_column(String(20))
    origin_server_id: Mapped[str] = mapped_column(String(200))
    origin_channel_id: Mapped[str] = mapped_column(String(200))
    origin_channel_name: Mapped[str | None] = mapped_column(String(200))
    origin_entity_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
