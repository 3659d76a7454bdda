"""The command execution log: one row per command event, durable before the event is acked.

One INSERT per command would make the database the bottleneck, so rows are written in batches
(group commit): once a row waits, the writer waits ``BATCH_WINDOW`` (10 ms) more and inserts
every row waiting by then; rows recorded while it writes go into the next batch. Without the
window, commands arriving one at a time were one transaction each. The router worker waits for
its event's row (:meth:`ExecutionLog.settled`) — after it has published the outcome — before it
sets the done marker and acknowledges the event, so a killed router never loses a row: an event
whose row was not written is still in the queue and is processed again. A failed write keeps
its rows and is retried with capped backoff; only a row the database refuses for good (e.g. its
community was deleted meanwhile) is dropped, logged and counted. A row's id is derived from its
event id, so a re-processed event never gets two.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from waddlebot.kernel.contracts import Event
from waddlebot.kernel.ids import ordered_id
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.outages import dependency_of
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import CommandExecution, utcnow
from waddlebot.kernel.supervision import TaskHealth, report_healthy, supervise

logger = get_logger(__name__)
RETRY_MIN = 0.1
RETRY_MAX = 5.0
BATCH_WINDOW = 0.01
# Every row carries every column, so one batch is one executemany of identical rows.
_DEFAULTS: dict[str, Any] = {
    "community_id": None,
    "entity_id": None,
    "user_id": None,
    "module": None,
    "detail": None,
    "queued_ms": 0.0,
    "module_ms": 0.0,
    "total_ms": 0.0,
}


def rows_refused(error: BaseException) -> bool:
    """The rows themselves were refused (bad data, broken constraint, unusable statement):
    retrying the same rows cannot help, unlike a lost connection or a missing table."""
    if isinstance(error, sa_exc.IntegrityError | sa_exc.DataError):
        return True
    return isinstance(error, sa_exc.StatementError) and not isinstance(error, sa_exc.DBAPIError)


def execution_id(event_id: str, received_at: datetime) -> str:
    """The row id of an event's execution: the same on every attempt, so at most one row;
    ordered by when the event arrived (a UUIDv7, see ``kernel/ids.py``)."""
    digest = hashlib.sha256(f"execution:{event_id}".encode()).digest()
    return ordered_id(int(received_at.timestamp() * 1000), digest)


class ExecutionLog:
    def __init__(
        self, db: Database, *, interval: float = BATCH_WINDOW, max_pending: int = 5000
    ) -> None:
        self.db = db
        self.interval = interval  # extra pause before a write, to gather a bigger batch
        self.max_pending = max_pending
        self.dropped = 0
        self._rows: list[dict[str, Any]] = []
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
        self._statement = insert(CommandExecution).on_conflict_do_nothing(index_elements=["id"])

    def start(self) -> None:
        """Run the writer on its own, supervised (tools, tests); a service spawns :meth:`run`
        instead, so ``/readyz`` shows it."""
        health = TaskHealth("router:execution-log")
        self._task = asyncio.create_task(supervise(health, self.run), name=health.name)

    async def record(self, event: Event, **row: Any) -> None:
        """Queue ``event``'s row for the next batch; waits when too many wait."""
        row = {
            **_DEFAULTS,
            "id": execution_id(event.id, event.received_at),
            "event_id": event.id,
            "started_at": utcnow(),
            **row,
        }
        if row["event_id"] not in self._waiting:
            self._waiting[row["event_id"]] = asyncio.get_running_loop().create_future()
        self._rows.append(row)
        self._wake.set()
        if len(self._rows) >= self.max_pending:  # backpressure: wait for the writer
            await self.settled(row["event_id"])

    async def abandoned(self, event: Event, reason: str) -> None:
        """The row of an event given up after its attempts: what it was and why it failed."""
        words = (event.text or "").split()
        trigger = words[0][:101] if words and words[0][:1] in "!#" else f"event:{event.type.value}"
        await self.record(
            event,
            community_id=None,
            entity_id=None,
            user_id=None,
            trigger=trigger,
            module=None,
            status="abandoned",
            detail=reason,
        )

    async def settled(self, event_id: str) -> None:
        """Return once every row recorded for ``event_id`` is in the database (or refused)."""
        waiter = self._waiting.get(event_id)
        if waiter is not None:
            await asyncio.shield(waiter)

    async def flush(self) -> None:
        """Write every waiting row; on failure keep them (and raise) for the next try."""
        async with self._lock:
            rows, self._rows = self._rows, []
            if not rows:
                return
            try:
                try:
                    await self._insert(rows)
                except Exception as error:
                    if not rows_refused(error):
                        raise
                    await self._insert_one_by_one(rows)
            except BaseException:
                self._rows[:0] = rows  # first in line for the next try, nothing dropped
                raise
            self._settle(rows)

    async def stop(self) -> None:
        """Stop the writer after one last try; unwritten rows' events are still un-acked."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.flush()
        except Exception as error:
            self._log_failure(error, final=True)

    async def run(self) -> None:
        """The writer loop. A database outage ends it (its supervisor logs it once, backs off
        and starts it again, and ``/readyz`` shows it meanwhile); rows stay queued and their
        events unacknowledged. Other failures are retried here with capped backoff."""
        if self._rows:
            self._wake.set()  # restarted after a failure: rows are waiting
        delay = RETRY_MIN
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.interval:
                await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception as error:
                if dependency_of(error) is not None:
                    raise
                if delay == RETRY_MIN:  # once per failure streak, not once per retry
                    self._log_failure(error, final=False)
                self._wake.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
            else:
                if delay != RETRY_MIN:
                    log_event(logger, Category.SYSTEM, "execution_log_flush", "recovered")
                delay = RETRY_MIN
                report_healthy()

    async def _insert(self, rows: list[dict[str, Any]]) -> None:
        # Shielded: a writer cancelled mid-batch (shutdown, a killed task) would otherwise leave
        # its transaction open until the connection is collected, and on SQLite every other
        # writer would wait out busy_timeout behind it. The batch finishes on its own; rows
        # are idempotent by id, so writing them again after a cancel inserts nothing twice.
        await asyncio.shield(self._write(rows))

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        # A Core insert, no ORM session to build for every batch (Database.insert_rows: on a
        # SQLite file usually on the loop itself, see kernel/storage/batch_writer.py).
        await self.db.insert_rows(self._statement, rows)

    async def _insert_one_by_one(self, rows: list[dict[str, Any]]) -> None:
        """After a refused batch: write the rows singly and drop only the refused ones."""
        for row in rows:
            try:
                await self._insert([row])
            except Exception as error:
                if not rows_refused(error):
                    raise
                self.dropped += 1
                log_event(
                    logger,
                    Category.ERROR,
                    "execution_row_refused",
                    "dropped",
                    level="error",
                    event_id=row["event_id"],
                    error=str(error).splitlines()[0],
                )

    def _settle(self, rows: list[dict[str, Any]]) -> None:
        pending = {row["event_id"] for row in self._rows}
        for event_id in {row["event_id"] for row in rows} - pending:
            waiter = self._waiting.pop(event_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _log_failure(self, error: BaseException, *, final: bool) -> None:
        log_event(
            logger,
            Category.ERROR,
            "execution_log_flush",
            "gave_up" if final else "retrying",
            level="error",
            rows=len(self._rows),
            error=str(error),
        )
