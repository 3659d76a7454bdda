"""What a module's host offers for ``ctx.schedule``: durable jobs that come back later as a
call to one of the module's ``@on_schedule`` handlers, in the channel they were set up in.

The kernel scheduler (``waddlebot.kernel.scheduler``) implements :class:`SchedulerOperations`;
the SDK only describes it, so modules never import the kernel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

MAX_HANDLER = 100
MAX_KEY = 200
MAX_PAYLOAD = 64 * 1024  # bytes of JSON
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


class SchedulerOperations(Protocol):
    """The durable scheduler as a module's host exposes it."""

    def now(self) -> datetime:
        """The scheduler's clock (aware UTC); ``after=`` is measured from it."""
        ...

    async def schedule(self, spec: JobSpec) -> str:
        """Store the job; with a ``key`` already held by a pending job, return that job's id."""
        ...

    async def cancel(self, module: str, community_id: str, job_id: str) -> bool:
        """Cancel a pending job of ``module`` in ``community_id``; False when there is none."""
        ...


def due_time(now: datetime, at: datetime | None, after: float | timedelta | None) -> datetime:
    """When a job scheduled ``at``/``after`` is due; exactly one of the two must be given."""
    if (at is None) == (after is None):
        raise ValueError("ctx.schedule needs exactly one of at= or after=")
    if at is not None:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("ctx.schedule(at=...) needs an aware datetime (e.g. tzinfo=UTC)")
        return at
    seconds = after.total_seconds() if isinstance(after, timedelta) else float(after)  # type: ignore[arg-type]
    if not seconds >= 0:  # also refuses NaN
        raise ValueError("ctx.schedule(after=...) must be zero or more seconds")
    return now + timedelta(seconds=seconds)


def check_job(handler: str, payload: dict[str, Any], grace: float, key: str | None) -> None:
    """Refuse what could not be stored or run back: clear ValueErrors for module authors."""
    if not handler or len(handler) > MAX_HANDLER:
        raise ValueError(f"schedule handler names are 1–{MAX_HANDLER} characters")
    if not isinstance(payload, dict):
        raise ValueError("a job's payload is a JSON object (dict)")
    try:
        size = len(json.dumps(payload).encode())
    except (TypeError, ValueError) as error:
        raise ValueError(f"a job's payload must be JSON-serialisable: {error}") from None
    if size > MAX_PAYLOAD:
        raise ValueError(f"a job's payload is at most {MAX_PAYLOAD} bytes of JSON (got {size})")
    if not grace > 0:
        raise ValueError("grace= must be more than 0 seconds")
    if key is not None and not 1 <= len(key) <= MAX_KEY:
        raise ValueError(f"a job's key is 1–{MAX_KEY} characters")
