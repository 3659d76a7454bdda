"""The command execution log, written in batches off the hot path.

One INSERT per command would make the database the bottleneck; rows are buffered and flushed
every ``interval`` seconds. A full buffer makes the caller wait for a
flush (backpressure) rather than grow without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import insert

from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import CommandExecution, new_id, utcnow

logger = get_logger(__name__)


class ExecutionLog:
    def __init__(self, db: Database, *, interval: float = 0.25, max_pending: int = 5000) -> None:
        self.db = db
        self.interval = interval
        self.max_pending = max_pending
        self._rows: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="router:execution-log")

    async def record(self, **row: Any) -> None:
        row.setdefault("id", new_id())
        row.setdefault("started_at", utcnow())
        self._rows.append(row)
        if len(self._rows) >= self.max_pending:
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            rows, self._rows = self._rows, []
            if not rows:
                return
            try:
                async with self.db.session() as session:
                    await session.execute(insert(CommandExecution), rows)
            except Exception as error:
                log_event(
                    logger,
                    Category.ERROR,
                    "execution_log_flush",
                    "error",
                    level="error",
                    rows=len(rows),
                    error=str(error),
                )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self._rows:
                await self.flush()
