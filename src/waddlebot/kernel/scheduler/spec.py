"""What a job is before it is stored: the module, handler, payload and the channel it goes
back to. Kernel-level so the store needs nothing from the SDK; the SDK re-exports it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

DEFAULT_GRACE = 300.0


@dataclass(frozen=True, slots=True)
class JobOrigin:
    """Where a job was scheduled, so its replies go back there."""

    platform: str
    server_id: str
    channel_id: str
    entity_id: str | None = None
    channel_name: str | None = None


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job to store: run ``module``'s ``handler`` at ``due_at`` for ``community_id``."""

    module: str
    community_id: str
    handler: str
    due_at: datetime
    payload: dict[str, Any]
    origin: JobOrigin
    grace: float = DEFAULT_GRACE
    key: str | None = None
