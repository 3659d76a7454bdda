"""Jobs in the database: schedule (with dedupe keys), cancel, claim with a lease, finish.

Every state change is a compare-and-set ``UPDATE … WHERE id = … AND status = … AND attempts
= …``, so two processes never both claim a job, and a process whose lease was taken over (it
stalled past ``lease``) cannot mark the new owner's run done. On PostgreSQL the candidates are
also read ``FOR UPDATE SKIP LOCKED``, so concurrent claimers skip each other's rows instead of
queueing on them; on SQLite a claim takes the write lock before it reads (one claimer at a time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from waddlebot.kernel.backends import PubSub
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.metrics import (
    LATE_AFTER,
    REGISTRY,
    SCHEDULER_CLAIMED,
    SCHEDULER_LATE,
    SCHEDULER_LATENESS,
)
from waddlebot.kernel.scheduler.models import (
    CANCELLED,
    DONE,
    DROPPED,
    FAILED,
    PENDING,
    RUNNING,
    ScheduledJobRow,
)
from waddlebot.kernel.scheduler.spec import JobOrigin, JobSpec
from waddlebot.kernel.storage import Database

logger = get_logger(__name__)

WAKE_CHANNEL = "scheduler:wake"
JOB_OUTCOMES = Counter(
    "waddlebot_scheduled_jobs_total",
    "Scheduled jobs by outcome: done, retry, failed, dropped, reclaimed",
    ["result"],
    registry=REGISTRY,
)
Clock = Callable[[], datetime]


def _count_claim(late: float) -> None:
    """Jobs due / late for the dashboards and the late-jobs alert."""
    SCHEDULER_CLAIMED.inc()
    SCHEDULER_LATENESS.observe(max(0.0, late))
    if late > LATE_AFTER:
        SCHEDULER_LATE.inc()


def utc_now() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; every time we store is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed job: what to run, where its replies go, and the claim that fences it."""

    id: str
    community_id: str
    module: str
    handler: str
    payload: dict[str, Any]
    due_at: datetime
    grace: float
    attempt: int
    origin: JobOrigin
    lease_owner: str


@dataclass(frozen=True, slots=True)
class JobState:
    """A job's row as it stands (for inspection and tests)."""

    id: str
    module: str
    handler: str
    status: str
    attempts: int
    due_at: datetime
    dedupe_key: str | None
    last_error: str | None


class JobStore:
    """The scheduler's table; also what ``ctx.schedule`` reaches through the module host."""

    def __init__(
        self,
        db: Database,
        *,
        lease: float,
        max_attempts: int,
        retry_delay: float,
        pubsub: PubSub | None = None,
        wake_within: float = 0.0,
        clock: Clock = utc_now,
    ) -> None:
        self.db = db
        self.lease = lease
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.pubsub = pubsub
        self.wake_within = wake_within
        self.clock = clock

    def now(self) -> datetime:
        return self.clock()

    # --- SchedulerOperations (ctx.schedule / ctx.cancel_schedule) ------------------------

    async def schedule(self, spec: JobSpec) -> str:
        if spec.key is not None:
            existing = await self._holder(spec.module, spec.community_id, spec.key)
            if existing is not None:
                return existing
        row = ScheduledJobRow(
            community_id=spec.community_id,
            module=spec.module,
            handler=spec.handler,
            payload=spec.payload,
            due_at=spec.due_at.astimezone(UTC),
            grace=spec.grace,
            dedupe_key=spec.key,
            origin_platform=spec.origin.platform,
            origin_server_id=spec.origin.server_id,
            origin_channel_id=spec.origin.channel_id,
            origin_channel_name=spec.origin.channel_name,
            origin_entity_id=spec.origin.entity_id,
            status=PENDING,
            attempts=0,
        )
        try:
            async with self.db.session() as session:
                session.add(row)
        except IntegrityError:
            # a concurrent schedule took the key first (or the community does not exist)
            existing = (
                await self._holder(spec.module, spec.community_id, spec.key) if spec.key else None
            )
            if existing is None:
                raise ValueError(f"cannot schedule for community {spec.community_id!r}") from None
            return existing
        await self._wake(row.due_at)
        return row.id

    async def cancel(self, module: str, community_id: str, job_id: str) -> bool:
        async with self.db.session() as session:
            result = await session.execute(
                update(ScheduledJobRow)
                .where(
                    ScheduledJobRow.id == job_id,
                    ScheduledJobRow.module == module,
                    ScheduledJobRow.community_id == community_id,
                    ScheduledJobRow.status == PENDING,
                )
                .values(status=CANCELLED, dedupe_key=None, updated_at=self.now())
            )
        return _rowcount(result) == 1

    async def hurry(
        self, module: str, community_id: str, key: str, payload: dict[str, Any]
    ) -> bool:
        """Make ``module``'s pending job keyed ``key`` due now, ``payload`` merged into its
        own (a player overlay's report ends a track early); False when no such job waits."""
        now = self.now()
        async with self.db.session() as session:
            row = await session.scalar(
                select(ScheduledJobRow)
                .where(
                    ScheduledJobRow.module == module,
                    ScheduledJobRow.community_id == community_id,
                    ScheduledJobRow.dedupe_key == key,
                    ScheduledJobRow.status == PENDING,
                )
                .with_for_update()
            )
            if row is None:
                return False
            row.payload = {**(row.payload or {}), **payload}
            row.due_at = min(aware(row.due_at), now)
            row.updated_at = now
        await self._wake(now)
        return True

    async def origin_of(self, module: str, community_id: str, key_prefix: str) -> JobOrigin | None:
        """Where ``module``'s pending job with a key starting ``key_prefix`` replies (to
        schedule a companion job for the same channel), or None."""
        async with self.db.session() as session:
            row = await session.scalar(
                select(ScheduledJobRow)
                .where(
                    ScheduledJobRow.module == module,
                    ScheduledJobRow.community_id == community_id,
                    ScheduledJobRow.status == PENDING,
                    ScheduledJobRow.dedupe_key.startswith(key_prefix, autoescape=True),
                )
                .order_by(ScheduledJobRow.due_at)
                .limit(1)
            )
            if row is None:
                return None
            return JobOrigin(
                platform=row.origin_platform,
                server_id=row.origin_server_id,
                channel_id=row.origin_channel_id,
                entity_id=row.origin_entity_id,
                channel_name=row.origin_channel_name,
            )

    async def _holder(self, module: str, community_id: str, key: str) -> str | None:
        async with self.db.session() as session:
            found: str | None = await session.scalar(
                select(ScheduledJobRow.id).where(
                    ScheduledJobRow.module == module,
                    ScheduledJobRow.community_id == community_id,
                    ScheduledJobRow.dedupe_key == key,
                )
            )
        return found

    async def _wake(self, due_at: datetime) -> None:
        """Tell every scheduler loop about a job due before their next poll."""
        if self.pubsub is None:
            return
        if (aware(due_at) - self.now()).total_seconds() <= self.wake_within:
            await self.pubsub.publish(WAKE_CHANNEL, aware(due_at).isoformat())

    # --- the loop's side ------------------------------------------------------------------

    async def claim(self, owner: str, limit: int) -> tuple[list[Job], int]:
        """Lease up to ``limit`` due jobs to ``owner``; also drop the ones later than their
        grace and fail reclaimed ones out of attempts. Returns (claimed, how many rows were
        settled without running)."""
        now = self.now()
        claimable = or_(
            and_(ScheduledJobRow.status == PENDING, ScheduledJobRow.due_at <= now),
            and_(ScheduledJobRow.status == RUNNING, ScheduledJobRow.lease_expires_at <= now),
        )
        query = select(ScheduledJobRow).where(claimable).order_by(ScheduledJobRow.due_at)
        query = query.limit(limit)
        if self.db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed: list[Job] = []
        settled = 0
        async with self.db.session() as session:
            if self.db.dialect == "sqlite":
                # take SQLite's write lock before reading, so claimers queue (busy timeout)
                # instead of failing to upgrade a stale read snapshot
                await session.execute(text("UPDATE scheduled_jobs SET status = status WHERE 0"))
            rows = list(await session.scalars(query))
            for row in rows:
                job = _job(row, owner)  # before any UPDATE touches the loaded row
                reclaimed = row.status == RUNNING
                fence = and_(
                    ScheduledJobRow.id == row.id,
                    ScheduledJobRow.status == row.status,
                    ScheduledJobRow.attempts == row.attempts,
                )
                reference = aware(row.lease_expires_at or row.due_at) if reclaimed else row.due_at
                late = (now - aware(reference)).total_seconds()
                if late > row.grace or (reclaimed and row.attempts >= self.max_attempts):
                    status = DROPPED if late > row.grace else FAILED
                    result = await session.execute(
                        update(ScheduledJobRow)
                        .execution_options(synchronize_session=False)
                        .where(fence)
                        .values(
                            status=status,
                            dedupe_key=None,
                            lease_owner=None,
                            lease_expires_at=None,
                            last_error=f"{late:.0f}s late (grace {row.grace:g}s)"
                            if status == DROPPED
                            else "its process died on the last attempt",
                            updated_at=now,
                        )
                    )
                    if _rowcount(result) == 1:
                        settled += 1
                        _log_end(job, status, late=round(late, 3), attempts=job.attempt - 1)
                    continue
                result = await session.execute(
                    update(ScheduledJobRow)
                    .execution_options(synchronize_session=False)
                    .where(fence)
                    .values(
                        status=RUNNING,
                        lease_owner=owner,
                        lease_expires_at=now + timedelta(seconds=self.lease),
                        attempts=row.attempts + 1,
                        updated_at=now,
                    )
                )
                if _rowcount(result) != 1:
                    continue  # another claimer got there first
                _count_claim(late)
                if reclaimed:
                    JOB_OUTCOMES.labels("reclaimed").inc()
                    _log_job(job, "reclaimed", attempt=job.attempt)
                claimed.append(job)
        return claimed, settled

    async def complete(self, job: Job) -> bool:
        """Mark a run done; False when the lease was lost to another claimer meanwhile."""
        done = await self._settle(job, status=DONE, dedupe_key=None, lease_owner=None)
        if done:
            JOB_OUTCOMES.labels("done").inc()
        return done

    async def failed(self, job: Job, error: str) -> str:
        """A run failed: retry later with backoff, or give up after the last attempt.

        Returns the job's new status (``pending`` or ``failed``)."""
        error = error[:500]
        if job.attempt >= self.max_attempts:
            if await self._settle(
                job, status=FAILED, dedupe_key=None, lease_owner=None, last_error=error
            ):
                JOB_OUTCOMES.labels(FAILED).inc()
                _log_job(job, "failed", level="error", attempts=job.attempt, detail=error)
            return FAILED
        delay = self.retry_delay * 2 ** (job.attempt - 1)
        due_at = self.now() + timedelta(seconds=delay)
        if await self._settle(
            job, status=PENDING, due_at=due_at, lease_owner=None, last_error=error
        ):
            JOB_OUTCOMES.labels("retry").inc()
            _log_job(job, "retry", attempt=job.attempt, retry_in=delay, detail=error)
            await self._wake(due_at)
        return PENDING

    async def _settle(self, job: Job, **values: Any) -> bool:
        async with self.db.session() as session:
            result = await session.execute(
                update(ScheduledJobRow)
                .where(
                    ScheduledJobRow.id == job.id,
                    ScheduledJobRow.status == RUNNING,
                    ScheduledJobRow.attempts == job.attempt,
                    ScheduledJobRow.lease_owner == job.lease_owner,
                )
                .values(lease_expires_at=None, updated_at=self.now(), **values)
            )
        if _rowcount(result) == 1:
            return True
        _log_job(job, "lease_lost")
        return False

    async def next_wake(self) -> datetime | None:
        """The earliest moment something becomes claimable (a due time or a lease expiry)."""
        async with self.db.session() as session:
            due = await session.scalar(
                select(func.min(ScheduledJobRow.due_at)).where(ScheduledJobRow.status == PENDING)
            )
            lease = await session.scalar(
                select(func.min(ScheduledJobRow.lease_expires_at)).where(
                    ScheduledJobRow.status == RUNNING
                )
            )
        moments = [aware(moment) for moment in (due, lease) if moment is not None]
        return min(moments) if moments else None

    async def state(self, job_id: str) -> JobState | None:
        async with self.db.session() as session:
            row = await session.get(ScheduledJobRow, job_id)
            if row is None:
                return None
            return JobState(
                id=row.id,
                module=row.module,
                handler=row.handler,
                status=row.status,
                attempts=row.attempts,
                due_at=aware(row.due_at),
                dedupe_key=row.dedupe_key,
                last_error=row.last_error,
            )


def _job(row: ScheduledJobRow, owner: str) -> Job:
    return Job(
        id=row.id,
        community_id=row.community_id,
        module=row.module,
        handler=row.handler,
        payload=dict(row.payload or {}),
        due_at=aware(row.due_at),
        grace=row.grace,
        attempt=row.attempts + 1,
        origin=JobOrigin(
            platform=row.origin_platform,
            server_id=row.origin_server_id,
            channel_id=row.origin_channel_id,
            entity_id=row.origin_entity_id,
            channel_name=row.origin_channel_name,
        ),
        lease_owner=owner,
    )


def _log_end(job: Job, status: str, **fields: Any) -> None:
    JOB_OUTCOMES.labels(status).inc()
    _log_job(job, status, level="error" if status == FAILED else "warning", **fields)


def _log_job(job: Job, result: str, *, level: str = "warning", **fields: Any) -> None:
    """One ``scheduled_job`` log line naming the job; errors go in the ERROR category."""
    log_event(
        logger,
        Category.ERROR if level == "error" else Category.SYSTEM,
        "scheduled_job",
        result,
        level=level,
        community=job.community_id,
        job=job.id,
        module=job.module,
        handler=job.handler,
        due_at=job.due_at.isoformat(),
        **fields,
    )


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
