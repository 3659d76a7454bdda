"""Which read replicas may serve reads: reachable, and at most ``max_lag`` seconds behind.

Checked in the background (``Database.watch_replicas``, every ``CHECK_EVERY`` seconds), never
per read: a read only looks at the last verdict. A replica goes out of use with one log line
(``replica_skipped``) and back into use with one (``replica_back``); meanwhile reads go to the
primary.

Lag is measured in WAL positions, not timestamps: ``now() - pg_last_xact_replay_timestamp()``
grows on an idle primary although the replica has everything. Each check samples the
primary's ``pg_current_wal_lsn()``; a replica whose ``pg_last_wal_replay_lsn()`` has reached
the sample taken at time *t* is at most ``now - t`` behind. A replica that has not reached
any sample kept is at least as far behind as that sample is old; until the samples span
``max_lag`` such a replica gets no verdict (a new process cannot vouch for it yet).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.outages import describe

logger = get_logger(__name__)

CHECK_EVERY = 1.0  # seconds between checks of every replica
CHECK_TIMEOUT = 2.0  # seconds: a replica slower than this to answer counts as down
DEFAULT_MAX_LAG = 5.0  # seconds

State = Literal["unchecked", "in use", "skipped"]


@dataclass
class WalSamples:
    """The primary's WAL position over the last few ``max_lag`` windows."""

    keep_seconds: float
    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, at: float, lsn: int) -> None:
        self.samples.append((at, lsn))
        while len(self.samples) > 1 and self.samples[0][0] < at - self.keep_seconds:
            self.samples.popleft()

    def lag(self, replayed: int, now: float) -> float | None:
        """At most how many seconds a replica that replayed up to ``replayed`` is behind;
        None when it has not reached even the oldest sample kept."""
        for at, lsn in reversed(self.samples):
            if lsn <= replayed:
                return max(0.0, now - at)
        return None


@dataclass
class Replica:
    """One read replica: its engine, its sessions and the last verdict on it."""

    number: int
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    state: State = "unchecked"
    lag: float | None = None
    reason: str | None = None

    @property
    def name(self) -> str:
        return f"replica_{self.number}"

    @property
    def usable(self) -> bool:
        return self.state == "in use"

    def judge(self, usable: bool, reason: str | None, max_lag: float) -> None:
        """Record a check's verdict; log only when the replica goes out of or back into use."""
        where = self.engine.url.render_as_string(hide_password=True)
        if usable and self.state == "skipped":
            log_event(logger, Category.SYSTEM, "replica_back", "ok", replica=self.name, url=where)
        elif not usable and self.state != "skipped":
            log_event(
                logger,
                Category.SYSTEM,
                "replica_skipped",
                "error",
                level="warning",
                replica=self.name,
                url=where,
                reason=reason,
                max_lag_seconds=max_lag,
            )
        self.state, self.reason = ("in use" if usable else "skipped"), reason


async def _primary_lsn(engine: AsyncEngine) -> int:
    async with asyncio.timeout(CHECK_TIMEOUT), engine.connect() as connection:
        lsn = await connection.scalar(
            text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
        )
    return int(lsn)


async def _replayed(replica: Replica) -> int | None:
    """The replica's replayed WAL position; None when it is not a standby (a promoted one,
    or the primary itself named as a replica): it then has every write."""
    async with asyncio.timeout(CHECK_TIMEOUT), replica.engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT pg_is_in_recovery(), "
                    "pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint"
                )
            )
        ).one()
    recovering, replayed = row
    if not recovering:
        return None
    return -1 if replayed is None else int(replayed)


async def _ping(replica: Replica) -> None:
    async with asyncio.timeout(CHECK_TIMEOUT), replica.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def primary_lsn(engine: AsyncEngine) -> int:
    """The primary's WAL position now (PostgreSQL)."""
    return await _primary_lsn(engine)


async def check(
    primary: AsyncEngine,
    replicas: list[Replica],
    samples: WalSamples,
    max_lag: float,
    required: Callable[[], int] = lambda: 0,
) -> None:
    """One round: sample the primary, then judge every replica (concurrently).

    ``required``: a WAL position every replica in use must have replayed (where this
    process's migrations ended: a replica without the tables serves no reads, however small
    its lag). Read when each verdict is made, not when the round starts, so a migration that
    ends during a round is not judged against the position before it."""
    if not replicas:
        return
    if primary.dialect.name != "postgresql":  # SQLite "replicas" (tests): reachable is enough
        await asyncio.gather(*(_judge_reachable(replica, max_lag) for replica in replicas))
        return
    try:
        samples.add(time.monotonic(), await _primary_lsn(primary))
    except Exception:
        return  # the primary is away: nothing to measure against, keep the last verdicts
    await asyncio.gather(*(_judge_lag(replica, samples, max_lag, required) for replica in replicas))


async def _judge_reachable(replica: Replica, max_lag: float) -> None:
    try:
        await _ping(replica)
    except Exception as error:
        replica.judge(False, f"unreachable: {describe(error)}", max_lag)
        return
    replica.lag = 0.0
    replica.judge(True, None, max_lag)


async def _judge_lag(
    replica: Replica, samples: WalSamples, max_lag: float, required: Callable[[], int]
) -> None:
    try:
        replayed = await _replayed(replica)
    except Exception as error:
        replica.lag = None
        replica.judge(False, f"unreachable: {describe(error)}", max_lag)
        return
    if replayed is not None and replayed < required():
        replica.lag = None
        if replica.state == "in use":  # lost its schema? (a re-created replica): out of use
            replica.judge(False, "has not replayed this process's migrations", max_lag)
        return  # not yet caught up with the migrations: no verdict
    now = time.monotonic()
    lag = 0.0 if replayed is None else samples.lag(replayed, now)
    replica.lag = lag
    if lag is None:
        # Behind every sample kept: at least as far behind as the oldest one is old. Early
        # on (a new process, a few samples) that proves nothing yet: no verdict.
        behind = now - samples.samples[0][0]
        if behind > max_lag:
            replica.judge(False, f"behind by more than {behind:.1f} s", max_lag)
    elif lag > max_lag:
        replica.judge(False, f"behind by up to {lag:.1f} s", max_lag)
    else:
        replica.judge(True, None, max_lag)
