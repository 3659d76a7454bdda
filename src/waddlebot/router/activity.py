"""Chat messages per community and hour (the portal's overview chart), and who spoke in a
community per day (the usage statistics' active chatters).

Nothing per message touches the database: :meth:`MessageCounts.count` adds one to a number in
memory, :meth:`MessageCounts.spoke` puts an account into a set (once per community and day per
process: accounts already written today are remembered, up to ``MAX_REMEMBERED``), and a
writer task writes what was collected every ``interval`` seconds in one transaction: an
upsert that adds to ``message_counts`` (so every router process and every restart only ever
adds to the hour's row) and ``chatter_days`` rows inserted unless there. A failed write keeps
what it held for the next one; on stop a last write is tried. At most ``interval`` seconds are
lost when a process dies without stopping, which is acceptable for a chart.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import ChatterDay, MessageCount, utcnow
from waddlebot.kernel.supervision import every
from waddlebot.router.executions import rows_refused

logger = get_logger(__name__)
Key = tuple[str, datetime]  # community id, hour (UTC)
DayKey = tuple[str, date]  # community id, day (UTC)
MAX_REMEMBERED = 200_000  # accounts remembered as written; beyond, forgotten (rewritten, no-op)


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class MessageCounts:
    """Counts in memory, written in batches (see the module docstring)."""

    def __init__(self, db: Database, *, interval: float = 60.0) -> None:
        self.db = db
        self.interval = interval
        self.dropped = 0  # counts of communities deleted before their write
        self._counts: Counter[Key] = Counter()
        self._chatters: defaultdict[DayKey, set[str]] = defaultdict(set)  # not written yet
        self._written: defaultdict[DayKey, set[str]] = defaultdict(set)  # written by us
        self._lock = asyncio.Lock()
        self._clock: tuple[int, datetime, date] = (-1, datetime.min, date.min)  # see _now
        insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
        statement = insert(MessageCount)
        self._statement = statement.on_conflict_do_update(
            index_elements=["community_id", "hour"],
            set_={"count": MessageCount.count + statement.excluded.count},
        )
        self._chatter_statement = insert(ChatterDay).on_conflict_do_nothing(
            index_elements=["community_id", "day", "account"]
        )

    def count(self, community_id: str, when: datetime | None = None) -> None:
        """One chat message in the community now (no I/O)."""
        hour = self._now()[0] if when is None else hour_of(when)
        self._counts[(community_id, hour)] += 1

    def spoke(self, community_id: str, account: str, when: datetime | None = None) -> None:
        """``account`` (``platform:id``) said something in the community today (no I/O)."""
        key = (community_id, self._now()[1] if when is None else when.astimezone(UTC).date())
        if account not in self._written.get(key, ()):
            self._chatters[key].add(account)

    def _now(self) -> tuple[datetime, date]:
        """The current UTC hour and day, made once an hour rather than twice per message."""
        hour = int(time.time() // 3600)
        if hour != self._clock[0]:
            start = datetime.fromtimestamp(hour * 3600, UTC)
            self._clock = (hour, start, start.date())
        return self._clock[1], self._clock[2]

    @property
    def pending(self) -> int:
        return sum(self._counts.values())

    @property
    def pending_chatters(self) -> int:
        return sum(len(accounts) for accounts in self._chatters.values())

    async def flush(self) -> int:
        """Add what was counted to the tables; on failure keep it (and raise). Returns how
        many rows were written."""
        async with self._lock:
            counts, self._counts = self._counts, Counter()
            chatters, self._chatters = self._chatters, defaultdict(set)
            if not counts and not chatters:
                return 0
            rows = [{"community_id": c, "hour": h, "count": n} for (c, h), n in counts.items()]
            spoke = [
                {"community_id": c, "day": d, "account": _account(account)}
                for (c, d), accounts in chatters.items()
                for account in accounts
            ]
            try:
                try:
                    await self._write(rows, spoke)
                except Exception as error:
                    if not rows_refused(error):
                        raise
                    await self._write_by_community(rows, spoke)
            except BaseException:
                self._counts.update(counts)  # counted since keep counting on top
                for key, accounts in chatters.items():
                    self._chatters[key] |= accounts
                raise
            self._remember(chatters)
            return len(rows) + len(spoke)

    def _remember(self, chatters: dict[DayKey, set[str]]) -> None:
        """Accounts written today need no second write; earlier days are over."""
        today = utcnow().date()
        for key in [key for key in self._written if key[1] < today]:
            del self._written[key]
        for key, accounts in chatters.items():
            if key[1] >= today:
                self._written[key] |= accounts
        if sum(len(accounts) for accounts in self._written.values()) > MAX_REMEMBERED:
            self._written.clear()  # bounded memory; a rewrite is an ignored conflict

    async def run(self) -> None:
        """The writer loop (supervised): a database outage ends it, other failures are
        logged and retried at the next interval."""

        async def write() -> None:
            await self.flush()

        await every(self.interval, write, action="message_counts_flush", wait_first=True)

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

    async def _write(self, rows: list[dict[str, Any]], spoke: list[dict[str, Any]]) -> None:
        async with self.db.engine.begin() as connection:
            if rows:
                await connection.execute(self._statement, rows)
            if spoke:
                await connection.execute(self._chatter_statement, spoke)

    async def _write_by_community(
        self, rows: list[dict[str, Any]], spoke: list[dict[str, Any]]
    ) -> None:
        """After a refused batch (a community deleted meanwhile): drop only its rows."""
        for community in {row["community_id"] for row in rows + spoke}:
            mine = [row for row in rows if row["community_id"] == community]
            said = [row for row in spoke if row["community_id"] == community]
            try:
                await self._write(mine, said)
            except Exception as error:
                if not rows_refused(error):
                    raise
                self.dropped += sum(row["count"] for row in mine)


def _account(account: str) -> str:
    """What ``chatter_days`` keeps of an account: a hash, enough to tell accounts apart."""
    return hashlib.sha256(account.encode()).hexdigest()[:32]
