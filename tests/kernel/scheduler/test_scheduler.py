"""The durable scheduler on real SQLite and PostgreSQL: restarts, leases, grace, retries,
dedupe keys, and several claimers firing each job exactly once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from waddlebot.kernel.backends.memory import MemoryBackend
from waddlebot.kernel.contracts import Action, ChatAction
from waddlebot.kernel.observability.metrics import LATE_AFTER, REGISTRY
from waddlebot.kernel.scheduler import Job, JobFailed, JobStore, Scheduler
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Community
from waddlebot.sdk.scheduling import JobOrigin, JobSpec

START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ORIGIN = JobOrigin(platform="playground", server_id="playground", channel_id="lobby")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class Recorder:
    """A job runner that remembers what ran and can fail the first ``failures`` runs."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.ran: list[Job] = []
        self.failures = failures
        self.delay = delay

    async def __call__(self, job: Job) -> list[Action]:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.ran.append(job)
        if len(self.ran) <= self.failures:
            raise JobFailed(f"boom {len(self.ran)}")
        return [ChatAction(text=str(job.payload.get("text", job.id)))]


def store(db: Database, clock: Clock, **overrides: Any) -> JobStore:
    options: dict[str, Any] = {"lease": 30.0, "max_attempts": 3, "retry_delay": 10.0}
    return JobStore(db, clock=clock, **{**options, **overrides})


def spec(
    due_at: datetime, *, key: str | None = None, grace: float = 300.0, **payload: Any
) -> JobSpec:
    return JobSpec(
        module="timers",
        community_id="c1",
        handler="fire",
        due_at=due_at,
        payload=payload,
        origin=ORIGIN,
        grace=grace,
        key=key,
    )


async def add_community(db: Database) -> None:
    async with db.session() as session:
        session.add(Community(id="c1", name="Penguins"))


@pytest.fixture
async def db(database: Database) -> Database:
    await add_community(database)
    return database


async def test_a_due_job_runs_once_and_a_future_one_waits(db: Database) -> None:
    clock = Clock()
    jobs = store(db, clock)
    runner = Recorder()
    scheduler = Scheduler(jobs, runner, pubsub=None, poll_interval=5)
    now_id = await jobs.schedule(spec(START, text="now"))
    later_id = await jobs.schedule(spec(START + timedelta(seconds=60), text="later"))

    results = await scheduler.run_due()
    assert [result.job.id for result in results] == [now_id]
    assert [action.text for action in results[0].actions if action.type == "chat"] == ["now"]
    assert await scheduler.run_due() == []
    assert await jobs.next_wake() == START + timedelta(seconds=60)

    clock.advance(60)
    assert [result.job.id for result in await scheduler.run_due()] == [later_id]
    assert [job.payload for job in runner.ran] == [{"text": "now"}, {"text": "later"}]
    state = await jobs.state(later_id)
    assert state is not None and (state.status, state.attempts) == ("done", 1)


async def test_jobs_survive_a_restart_and_fire_once_on_start(database_url: str) -> None:
    clock = Clock()
    first = Database(database_url)
    await first.migrate()
    await add_community(first)
    job_id = await store(first, clock).schedule(spec(START + timedelta(seconds=30), text="hi"))
    await first.close()  # WaddleBot stops before the job is due

    clock.advance(120)  # …and starts again after it came due (within its grace)
    second = Database(database_url)
    try:
        runner = Recorder()
        scheduler = Scheduler(store(second, clock), runner, pubsub=None, poll_interval=5)
        assert [result.job.id for result in await scheduler.run_due()] == [job_id]
        assert await scheduler.run_due() == []
        clock.advance(3600)
        assert await scheduler.run_due() == []
        assert [job.id for job in runner.ran] == [job_id]
    finally:
        await second.close()


async def test_a_job_later_than_its_grace_is_dropped(db: Database) -> None:
    clock = Clock()
    jobs = store(db, clock)
    runner = Recorder()
    job_id = await jobs.schedule(spec(START, grace=60, text="too late"))
    clock.advance(61)
    with structlog.testing.capture_logs() as logs:
        assert await Scheduler(jobs, runner, pubsub=None, poll_interval=5).run_due() == []
    [dropped] = [log for log in logs if log.get("action") == "scheduled_job"]
    assert (dropped["result"], dropped["job"], dropped["late"]) == ("dropped", job_id, 61)
    assert runner.ran == []
    state = await jobs.state(job_id)
    assert state is not None and state.status == "dropped"
    assert state.last_error is not None and "grace 60s" in state.last_error


async def test_a_job_whose_process_died_is_reclaimed_after_its_lease(db: Database) -> None:
    clock = Clock()
    dead = store(db, clock)
    job_id = await dead.schedule(spec(START, text="hello"))
    claimed, _ = await dead.claim("dead-process", 10)
    assert [job.id for job in claimed] == [job_id]

    alive = store(db, clock)
    runner = Recorder()
    survivor = Scheduler(alive, runner, pubsub=None, poll_interval=5, owner="alive")
    assert await survivor.run_due() == []  # still leased
    clock.advance(30)
    results = await survivor.run_due()
    assert [(result.job.id, result.job.attempt) for result in results] == [(job_id, 2)]
    # the dead process waking up late cannot mark the new owner's run as its own
    assert await dead.complete(claimed[0]) is False
    state = await alive.state(job_id)
    assert state is not None and (state.status, state.attempts) == ("done", 2)


async def test_failures_retry_with_backoff_then_succeed(db: Database) -> None:
    clock = Clock()
    jobs = store(db, clock)
    runner = Recorder(failures=2)
    scheduler = Scheduler(jobs, runner, pubsub=None, poll_interval=5)
    job_id = await jobs.schedule(spec(START, text="x"))

    assert [result.status for result in await scheduler.run_due()] == ["pending"]
    state = await jobs.state(job_id)
    assert state is not None and state.due_at == START + timedelta(seconds=10)
    assert state.last_error == "boom 1"
    clock.advance(10)
    assert [result.status for result in await scheduler.run_due()] == ["pending"]
    clock.advance(19)
    assert await scheduler.run_due() == []  # backoff doubled: 20 s
    clock.advance(1)
    assert [result.status for result in await scheduler.run_due()] == ["done"]
    assert [job.attempt for job in runner.ran] == [1, 2, 3]


async def test_a_job_out_of_attempts_is_marked_failed_never_lost(db: Database) -> None:
    clock = Clock()
    jobs = store(db, clock, max_attempts=2, retry_delay=1.0)
    runner = Recorder(failures=99)
    scheduler = Scheduler(jobs, runner, pubsub=None, poll_interval=5)
    job_id = await jobs.schedule(spec(START, key="once"))
    await scheduler.run_due()
    clock.advance(1)
    with structlog.testing.capture_logs() as logs:
        assert [result.status for result in await scheduler.run_due()] == ["failed"]
    [failed] = [log for log in logs if log.get("result") == "failed"]
    assert (failed["category"], failed["job"], failed["detail"]) == ("ERROR", job_id, "boom 2")
    clock.advance(3600)
    assert await scheduler.run_due() == []
    state = await jobs.state(job_id)
    assert state is not None
    assert (state.status, state.attempts, state.last_error) == ("failed", 2, "boom 2")
    assert state.dedupe_key is None  # the key may be used again


async def test_a_dedupe_key_returns_the_pending_job(db: Database) -> None:
    clock = Clock()
    jobs = store(db, clock)
    first = await jobs.schedule(spec(START + timedelta(seconds=5), key="timer:1:slot:9"))
    assert await jobs.schedule(spec(START + timedelta(seconds=99), key="timer:1:slot:9")) == first
    others = await asyncio.gather(*(jobs.schedule(spec(START, key="race")) for _ in range(5)))
    assert len(set(others)) == 1
    assert await jobs.cancel("timers", "c1", first) is True
    assert await jobs.cancel("timers", "c1", first) is False
    assert await jobs.cancel("other-module", "c1", others[0]) is False
    assert await jobs.schedule(spec(START, key="timer:1:slot:9")) != first


async def test_the_loop_wakes_up_for_a_job_scheduled_while_it_sleeps(db: Database) -> None:
    backend = MemoryBackend()
    jobs = JobStore(
        db, lease=30, max_attempts=3, retry_delay=1, pubsub=backend.pubsub, wake_within=3600
    )
    runner = Recorder()
    scheduler = Scheduler(jobs, runner, pubsub=backend.pubsub, poll_interval=3600)
    task = asyncio.create_task(scheduler.run_forever())
    try:
        await asyncio.sleep(0.2)  # idle: sleeping for up to an hour
        await jobs.schedule(spec(datetime.now(UTC), text="wake"))
        async with asyncio.timeout(10):
            while not runner.ran:
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await backend.close()
    assert [job.payload for job in runner.ran] == [{"text": "wake"}]


async def test_two_schedulers_fire_each_job_exactly_once(database_url: str) -> None:
    """Two processes' schedulers (separate engines) on one database: SKIP LOCKED on
    PostgreSQL; on SQLite the claimers queue on the write lock."""
    databases = [Database(database_url) for _ in range(2)]
    await databases[0].migrate()
    await add_community(databases[0])
    setup = JobStore(databases[0], lease=30, max_attempts=3, retry_delay=1)
    due = datetime.now(UTC)
    ids = {await setup.schedule(spec(due, text=str(n))) for n in range(120)}
    runners = [Recorder(delay=0.001), Recorder(delay=0.001)]
    schedulers = [
        Scheduler(
            JobStore(db, lease=30, max_attempts=3, retry_delay=1),
            runner,
            pubsub=None,
            poll_interval=0.1,
            batch=7,
            owner=f"process-{n}",
        )
        for n, (db, runner) in enumerate(zip(databases, runners, strict=True))
    ]
    tasks = [asyncio.create_task(scheduler.run_forever()) for scheduler in schedulers]
    try:
        async with asyncio.timeout(60):
            while sum(len(runner.ran) for runner in runners) < len(ids):
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # nothing runs twice afterwards either
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for db in databases:
            await db.close()
    fired = Counter(job.id for runner in runners for job in runner.ran)
    assert set(fired) == ids
    assert set(fired.values()) == {1}
    assert all(runner.ran for runner in runners), "both processes took a share"


async def test_two_scheduler_processes_fire_each_job_exactly_once(
    database_url: str, tmp_path: Path
) -> None:
    """Two real OS processes claiming from one database (SKIP LOCKED on PostgreSQL, the write
    lock on SQLite): every job runs, none twice."""
    db = Database(database_url)
    await db.migrate()
    await add_community(db)
    setup = JobStore(db, lease=30, max_attempts=3, retry_delay=1)
    due = datetime.now(UTC)
    ids = {await setup.schedule(spec(due, text=str(n))) for n in range(150)}
    await db.close()
    script = Path(__file__).with_name("claimer_process.py")
    outputs = [tmp_path / f"ran-{n}.txt" for n in range(2)]
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), database_url, str(out), f"process-{n}"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, out in enumerate(outputs)
    ]
    for process in processes:
        try:
            _, errors = await asyncio.to_thread(process.communicate, timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        assert process.returncode == 0, errors
    fired = Counter(line for out in outputs if out.exists() for line in out.read_text().split())
    assert set(fired) == ids
    assert set(fired.values()) == {1}, {job: n for job, n in fired.items() if n > 1}


async def test_hurry_makes_a_keyed_job_due_now_with_more_payload(db: Database) -> None:
    clock = Clock()
    jobs = store(db, clock)
    runner = Recorder()
    scheduler = Scheduler(jobs, runner, pubsub=None, poll_interval=5)
    job_id = await jobs.schedule(spec(START + timedelta(seconds=200), key="player:e1", text="x"))
    assert await jobs.origin_of("timers", "c1", "player:") == ORIGIN
    assert await jobs.origin_of("timers", "c1", "other:") is None
    assert await jobs.origin_of("other-module", "c1", "player:") is None
    assert not await jobs.hurry("timers", "c1", "player:nope", {"report": "ended"})
    assert await jobs.hurry("timers", "c1", "player:e1", {"report": "ended"})
    [result] = await scheduler.run_due()
    assert result.job.id == job_id
    assert runner.ran[0].payload == {"text": "x", "report": "ended"}
    # done: the key is free, a second report finds nothing
    assert not await jobs.hurry("timers", "c1", "player:e1", {"report": "ended"})
    assert await jobs.origin_of("timers", "c1", "player:") is None


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_claims_count_as_due_and_late_ones_as_late(db: Database) -> None:
    clock = Clock()
    jobs = store(db, clock)
    scheduler = Scheduler(jobs, Recorder(), pubsub=None, poll_interval=5)
    due, late = (
        _sample("waddlebot_scheduler_jobs_due_total"),
        _sample("waddlebot_scheduler_jobs_late_total"),
    )
    await jobs.schedule(spec(START, text="on time"))
    await scheduler.run_due()
    assert _sample("waddlebot_scheduler_jobs_due_total") == due + 1
    assert _sample("waddlebot_scheduler_jobs_late_total") == late

    await jobs.schedule(spec(START + timedelta(seconds=10), grace=600, text="late"))
    clock.advance(10 + LATE_AFTER + 5)  # claimed after its due time + the lateness threshold
    await scheduler.run_due()
    assert _sample("waddlebot_scheduler_jobs_due_total") == due + 2
    assert _sample("waddlebot_scheduler_jobs_late_total") == late + 1
