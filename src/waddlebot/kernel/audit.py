"""The audit store: AUTH/AUTHZ/AUDIT decisions about a community, kept in ``audit_records``.

Every such line goes through :func:`~waddlebot.kernel.observability.logging.log_event`, which
hands it (when it names a community) to the store installed in this process. The store only
appends it to a bounded in-memory buffer: no request ever waits for, or fails because of, audit
storage. A writer task inserts whatever waits in one batch (group commit), so the AUTHZ line
of every chat message costs a list append, not a database write. When the database is slow or
away the buffer fills; then the oldest records are dropped and counted
(``waddlebot_audit_dropped_total``). Records older than the retention are deleted hourly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import delete, func, insert, select
from sqlalchemy import exc as sa_exc

from waddlebot.kernel.errors import Invalid
from waddlebot.kernel.ids import new_ordered_id
from waddlebot.kernel.observability.logging import (
    AUDITED,
    Category,
    add_audit_sink,
    get_logger,
    log_event,
    remove_audit_sink,
)
from waddlebot.kernel.observability.metrics import REGISTRY
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import AuditRecord, utcnow

logger = get_logger(__name__)

AUDIT_DROPPED = Counter(
    "waddlebot_audit_dropped_total",
    "Audit records dropped (buffer full while the database was slow, or refused rows)",
    registry=REGISTRY,
)
AUDIT_WRITTEN = Counter(
    "waddlebot_audit_written_total", "Audit records written to the database", registry=REGISTRY
)
CATEGORIES = tuple(sorted(category.value for category in AUDITED))
MAX_DETAILS = 2000  # characters of one detail value
PAGE_SIZE = 50
RETRY_MAX = 30.0


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON-storable copy of a log field (anything else becomes its text)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value[:MAX_DETAILS].replace("\x00", "")  # PostgreSQL refuses NUL in JSON
    if depth < 3 and isinstance(value, list | tuple | set | frozenset):
        return [_plain(item, depth + 1) for item in list(value)[:50]]
    if depth < 3 and isinstance(value, dict):
        return {str(k)[:100]: _plain(v, depth + 1) for k, v in list(value.items())[:50]}
    return str(value)[:MAX_DETAILS].replace("\x00", "")


def _refused(error: BaseException) -> bool:
    """The rows themselves were refused (bad data): retrying them cannot help, unlike a lost
    connection or a missing table (the same rule as the execution log)."""
    if isinstance(error, sa_exc.IntegrityError | sa_exc.DataError):
        return True
    return isinstance(error, sa_exc.StatementError) and not isinstance(error, sa_exc.DBAPIError)


def _row(record: dict[str, Any]) -> dict[str, Any]:
    """A table row from a log record, every value cut to its column."""
    return {
        "id": new_ordered_id(),  # appended to the key's index, not on a random page
        "at": record.get("at") or utcnow(),
        "category": str(record["category"])[:10],
        "action": _plain(str(record["action"])[:200]),
        "result": str(record["result"])[:50],
        "community_id": str(record["community_id"])[:64],
        "user_id": None if record.get("user_id") is None else str(record["user_id"])[:200],
        "via": None if record.get("via") is None else str(record["via"])[:50],
        "details": _plain(record.get("details") or {}),
    }


class AuditStore:
    """Bounded buffer + group-committed writer + pruning. One per process (see :meth:`install`)."""

    def __init__(
        self,
        db: Database,
        *,
        retention_days: int = 30,
        max_buffer: int = 10_000,
        batch: int = 500,
        interval: float = 1.0,
        prune_every: float = 3600.0,
    ) -> None:
        self.db = db
        self.retention = timedelta(days=retention_days)
        self.max_buffer = max_buffer
        self.batch = batch
        self.interval = interval  # pause before a write, to gather a batch
        self.prune_every = prune_every
        self.dropped = 0
        self.written = 0
        self.batches = 0  # database writes made (a batch each)
        self._buffer: deque[dict[str, Any]] = deque()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._last_prune: datetime | None = None

    # --- the hot path ------------------------------------------------------------------

    def offer(self, record: dict[str, Any]) -> None:
        """Queue one record; never blocks. A full buffer drops (and counts) its oldest."""
        if len(self._buffer) >= self.max_buffer:
            self._buffer.popleft()
            self._drop(1)
        self._buffer.append(_row(record))
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def _drop(self, count: int) -> None:
        self.dropped += count
        AUDIT_DROPPED.inc(count)

    # --- lifecycle ---------------------------------------------------------------------

    def install(self) -> None:
        """Receive this process's AUTH/AUTHZ/AUDIT lines and start the writer."""
        add_audit_sink(self.offer)
        self._task = asyncio.create_task(self.run(), name="audit-store")

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop receiving, stop the writer, try once more to write what waits."""
        remove_audit_sink(self.offer)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            async with asyncio.timeout(timeout):
                while self._buffer:
                    await self.flush()
        except Exception as error:
            log_event(
                logger,
                Category.ERROR,
                "audit_flush",
                "gave_up",
                level="error",
                records=len(self._buffer),
                error=str(error),
            )

    async def run(self) -> None:
        """The writer: wait for records, gather for ``interval``, write a batch; retry with
        capped backoff on failure (records stay buffered, bounded); prune now and then."""
        delay = 0.5
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.prune_every)
            self._wake.clear()
            if self.interval:
                await asyncio.sleep(self.interval)
            try:
                while self._buffer:
                    await self.flush()
                await self._maybe_prune()
            except Exception as error:
                if delay == 0.5:
                    log_event(
                        logger,
                        Category.ERROR,
                        "audit_flush",
                        "retrying",
                        level="error",
                        records=len(self._buffer),
                        error=str(error).splitlines()[0] if str(error) else repr(error),
                    )
                self._wake.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
            else:
                delay = 0.5

    async def flush(self) -> int:
        """Write up to ``batch`` waiting records in one statement; on failure put them back
        in front (still bounded: the oldest go first) and raise."""
        async with self._lock:
            rows = [self._buffer.popleft() for _ in range(min(self.batch, len(self._buffer)))]
            if not rows:
                return 0
            try:
                try:
                    await self._insert(rows)
                except Exception as error:
                    if not _refused(error):
                        raise
                    rows = await self._insert_one_by_one(rows)
            except BaseException:
                self._buffer.extendleft(reversed(rows))
                while len(self._buffer) > self.max_buffer:
                    self._buffer.popleft()
                    self._drop(1)
                raise
            self.written += len(rows)
            self.batches += 1
            AUDIT_WRITTEN.inc(len(rows))
            return len(rows)

    async def _insert(self, rows: list[dict[str, Any]]) -> None:
        # A Core executemany on a bare connection: no ORM session per batch.
        await self.db.insert_rows(insert(AuditRecord), rows)

    async def _insert_one_by_one(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """After a refused batch: write rows singly, drop (and count) only the refused ones;
        returns the written ones."""
        written = []
        for row in rows:
            try:
                await self._insert([row])
            except Exception as error:
                if not _refused(error):
                    raise
                self._drop(1)
                continue
            written.append(row)
        return written

    async def _maybe_prune(self) -> None:
        now = utcnow()
        if self._last_prune is None or (now - self._last_prune).total_seconds() >= (
            self.prune_every
        ):
            await self.prune(now)
            self._last_prune = now

    async def prune(self, now: datetime | None = None) -> int:
        """Delete records older than the retention; returns how many went."""
        cutoff = (now or utcnow()) - self.retention
        async with self.db.engine.begin() as connection:
            result = await connection.execute(delete(AuditRecord).where(AuditRecord.at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What the audit page and REST endpoint filter by (all optional)."""

    category: str | None = None
    action: str | None = None  # part of the action, case-insensitive
    user: str | None = None  # a user id (exact)
    result: str | None = None  # exact
    since: datetime | None = None
    until: datetime | None = None

    def checked(self) -> AuditFilter:
        """Refuse values no record can have (so a typo is an error, not an empty page)."""
        if self.category is not None and self.category not in CATEGORIES:
            raise Invalid(f"category must be one of {', '.join(CATEGORIES)}.")
        for bound in (self.since, self.until):
            if bound is not None and bound.tzinfo is None:
                raise Invalid("Give dates with a time zone (e.g. 2026-11-30T05:00:00Z).")
        since = self.since.astimezone(UTC) if self.since else None
        until = self.until.astimezone(UTC) if self.until else None
        if since and until and since > until:
            raise Invalid("The start of the date range is after its end.")
        return AuditFilter(self.category, self.action, self.user, self.result, since, until)


@dataclass(frozen=True, slots=True)
class AuditView:
    id: str
    at: datetime
    category: str
    action: str
    result: str
    community_id: str
    user_id: str | None
    via: str | None
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "category": self.category,
            "action": self.action,
            "result": self.result,
            "community_id": self.community_id,
            "user_id": self.user_id,
            "via": self.via,
            "details": self.details,
        }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def audit_records(
    db: Database,
    community_id: str,
    where: AuditFilter | None = None,
    *,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> tuple[list[AuditView], bool]:
    """One page of a community's records, newest first, and whether there is a next page."""
    where = (where or AuditFilter()).checked()
    if page < 1 or page > 10_000:
        raise Invalid("page must be between 1 and 10000.")
    if size < 1 or size > 500:
        raise Invalid("size must be between 1 and 500.")
    query = select(AuditRecord).where(AuditRecord.community_id == community_id)
    if where.category:
        query = query.where(AuditRecord.category == where.category)
    if where.action:
        query = query.where(
            func.lower(AuditRecord.action).like(
                f"%{_escape_like(where.action.lower())}%", escape="\\"
            )
        )
    if where.user:
        query = query.where(AuditRecord.user_id == where.user)
    if where.result:
        query = query.where(AuditRecord.result == where.result)
    if where.since:
        query = query.where(AuditRecord.at >= where.since)
    if where.until:
        query = query.where(AuditRecord.at < where.until)
    query = (
        query.order_by(AuditRecord.at.desc(), AuditRecord.id.desc())
        .offset((page - 1) * size)
        .limit(size + 1)
    )
    async with db.read_session() as session:
        rows = list((await session.execute(query)).scalars())
    views = [
        AuditView(
            id=row.id,
            at=row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC),
            category=row.category,
            action=row.action,
            result=row.result,
            community_id=row.community_id,
            user_id=row.user_id,
            via=row.via,
            details=row.details or {},
        )
        for row in rows[:size]
    ]
    return views, len(rows) > size
