"""Chat messages per community and hour, for the portal's overview chart.

Nothing per message touches the database: :meth:`MessageCounts.count` adds one to a number in
memory, and a writer task adds what was counted to ``message_counts`` every ``interval``
seconds in one statement (an upsert that adds, so every router process and every restart
only ever adds to the hour's row). A failed write keeps its counts for the next one; on stop
a last write is tried. At most ``interval`` seconds of counts are lost when a process dies
without stopping, which is acceptable for a chart.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.outages import dependency_of
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import MessageCount, utcnow
from waddlebot.kernel.supervision import report_healthy
from waddlebot.router.executions import rows_refused

logger = get_logger(__name__)
Key = tuple[str, datetime]  # community id, hour (UTC)


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class MessageCounts:
    """Counts in memory, written in batches (see the module docstring)."""

    def __init__(self, db: Database, *, interval: float = 60.0) -> None:
        self.db = db
        self.interval = interval
        self.dropped = 0  # counts of communities deleted before their write
        self._counts: Counter[Key] = Counter()
        self._lock = asyncio.Lock()
        insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
        statement = insert(MessageCount)
        self._statement = statement.on_conflict_do_update(
            index_elements=["community_id", "hour"],
            set_={"count": MessageCount.count + statement.excluded.count},
        )

    def count(self, community_id: str, when: datetime | None = None) -> None:
        """One chat message in the community now (no I/O)."""
        self._counts[(community_id, hour_of(when or utcnow()))] += 1

    @property
    def pending(self) -> int:
        return sum(self._counts.values())

    async def flush(self) -> int:
        """Add what was counted to the table; on failure keep it (and raise). Returns how
        many rows were written."""
        async with self._lock:
            counts, self._counts = self._counts, Counter()
            if not counts:
                return 0
            rows = [{"community_id": c, "hour": h, "count": n} for (c, h), n in counts.items()]
            try:
                try:
                    await self._write(rows)
                except Exception as error:
                    if not rows_refused(error):
                        raise
                    await self._write_one_by_one(rows)
            except BaseException:
                self._counts.update(counts)  # counted since keep counting on top
                raise
            return len(rows)

    async def run(self) -> None:
        """The writer loop; a database outage ends it (its supervisor restarts it), other
        failures are logged and retried at the next interval."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception as error:
                if dependency_of(error) is not None:
                    raise
                log_event(
                    logger,
                    Category.ERROR,
                    "message_counts_flush",
                    "retrying",
                    level="error",
                    error=str(error).splitlines()[0],
                )
            else:
                report_healthy()

    async def stop(self) -> None:
        """A last write (the service stopped the writer task before)."""
        try:
            await self.flush()
        except Exception as error:
            log_event(
                logger,
                Category.ERROR,
                "message_counts_flush",
                "gave_up",
                level="error",
                pending=self.pending,
                error=str(error).splitlines()[0],
            )

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        async with self.db.engine.begin() as connection:
            await connection.execute(self._statement, rows)

    async def _write_one_by_one(self, rows: list[dict[str, Any]]) -> None:
        """After a refused batch (a community deleted meanwhile): drop only its rows."""
        for row in rows:
            try:
                await self._write([row])
            except Exception as error:
                if not rows_refused(error):
                    raise
                self.dropped += row["count"]
