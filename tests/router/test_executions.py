"""The execution log loses no row: written before the event is acknowledged, kept and retried
when a write fails, and abandoned events get a row with their reason. SQLite + memory and
PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from datetime import UTC, datetime

import structlog.testing
from sqlalchemy import func, select, text

from tests.support import build_app, live_server
from waddlebot.kernel.backends import Backend, open_backend
from waddlebot.kernel.contracts import Event, Platform, UserRef
from waddlebot.kernel.contracts.names import EVENTS_QUEUE, outbound_queue
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import CommandExecution
from waddlebot.router.executions import ExecutionLog, execution_id
from waddlebot.router.worker import event_state_key


def ping(n: int) -> Event:
    return Event(
        id=f"burst-{n}",
        platform=Platform.twitch,  # no twitch sender runs here: replies stay in its queue
        server_id="s1",
        channel_id="c1",
        user=UserRef(id=f"u{n % 7}", name=f"viewer{n % 7}"),
        text="!ping",
    )


def event_called(event_id: str) -> Event:
    return Event(id=event_id, platform=Platform.twitch, server_id="s1", channel_id="c1")


async def rows_by_event(db: Database) -> dict[str, int]:
    async with db.read_session() as session:
        found = await session.execute(
            select(CommandExecution.event_id, func.count()).group_by(CommandExecution.event_id)
        )
    return {str(row[0]): int(row[1]) for row in found.all()}


async def done_events(backend: Backend, events: list[Event]) -> set[str]:
    markers = await backend.kv.get_many(*(event_state_key(event.id) for event in events))
    return {
        event.id
        for event, marker in zip(events, markers, strict=True)
        if marker and marker.startswith(b"done:")
    }


async def kill_tasks(*names: str) -> None:
    """Cancel the router's background tasks the way a kill stops them: no stop(), no flush."""
    tasks = [task for task in asyncio.all_tasks() if task.get_name() in names]
    assert len(tasks) == len(names)
    for task in tasks:
        task.cancel()
    done, pending = await asyncio.wait(tasks, timeout=20)
    for task in pending:
        task.print_stack()
    assert not pending, f"still running after cancel: {[t.get_name() for t in pending]}"
    for task in done:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(check: object, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_a_router_killed_mid_burst_loses_no_row(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(
        update={"router_visibility_timeout": 0.5, "rate_limit_user": 10_000}
    )
    backend = await open_backend(settings.redis_url, namespace=settings.redis_namespace)
    events = [ping(n) for n in range(300)]
    try:
        await backend.queues.put(
            EVENTS_QUEUE, [e.model_dump_json().encode() for e in events], max_length=1000
        )
        async with live_server(build_app(settings, backend=backend)) as server:
            db = server.app.state.runtime.db
            await until(lambda: _below(backend, 200))
            await kill_tasks("router:workers", "router:execution-log")
            done = await done_events(backend, events)
            rows = await rows_by_event(db)
            assert done, "the kill came too late to prove anything"
            assert sorted(done - set(rows)) == []  # every finished event has its row
        # A new router takes over what the killed one left unfinished.
        async with live_server(build_app(settings, backend=backend)) as server:
            db = server.app.state.runtime.db
            await until(lambda: _below(backend, 1))
            rows = await rows_by_event(db)
        assert rows == {event.id: 1 for event in events}  # every event, once
    finally:
        await backend.close()


async def _below(backend: Backend, depth: int) -> bool:
    return await backend.queues.depth(EVENTS_QUEUE) < depth


async def test_an_abandoned_event_gets_a_row_with_its_reason(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(
        update={"router_visibility_timeout": 0.2, "outbound_queue_max": 1}
    )
    backend = await open_backend(settings.redis_url, namespace=settings.redis_namespace)
    try:
        # The reply queue is full, so every attempt at the event fails.
        await backend.queues.put(outbound_queue("twitch"), [b"{}"], max_length=1)
        await backend.queues.put(EVENTS_QUEUE, [ping(1).model_dump_json().encode()], max_length=9)
        async with live_server(build_app(settings, backend=backend)) as server:
            db = server.app.state.runtime.db
            await until(lambda: _below(backend, 1), timeout=30)
            async with db.read_session() as session:
                [row] = (await session.scalars(select(CommandExecution))).all()
        assert (row.event_id, row.status, row.trigger) == ("burst-1", "abandoned", "!ping")
        assert row.detail is not None
        assert row.detail.startswith("gave up after 5 attempts") and "QueueFull" in row.detail
    finally:
        await backend.close()


async def test_a_failed_write_keeps_its_rows_and_retries(database: Database) -> None:
    log = ExecutionLog(database)
    log.start()
    try:
        async with database.session() as session:  # the table goes away for a while
            await session.execute(text("ALTER TABLE command_executions RENAME TO away"))
        first = event_called("e1")
        await log.record(first, trigger="!ping", status="ok")
        waiting = asyncio.create_task(log.settled("e1"))
        await asyncio.sleep(0.5)  # a few failed writes
        assert not waiting.done()
        async with database.session() as session:
            await session.execute(text("ALTER TABLE away RENAME TO command_executions"))
        await asyncio.wait_for(waiting, timeout=20)
        assert await rows_by_event(database) == {"e1": 1}
        await log.record(first, trigger="!ping", status="ok")  # processed again
        await asyncio.wait_for(log.settled("e1"), timeout=20)
        assert await rows_by_event(database) == {"e1": 1}
    finally:
        await log.stop()


async def test_a_row_the_database_refuses_is_dropped_loudly_not_retried_forever(
    database: Database,
) -> None:
    log = ExecutionLog(database, interval=0.1)  # both rows go into one batch
    log.start()
    try:
        with structlog.testing.capture_logs() as logs:
            await log.record(event_called("good"), trigger="!ping", status="ok")
            await log.record(
                event_called("bad"), trigger="!ping", status="ok", community_id="no-such-community"
            )
            await asyncio.wait_for(
                asyncio.gather(log.settled("good"), log.settled("bad")), timeout=20
            )
        assert await rows_by_event(database) == {"good": 1}
        [refused] = [entry for entry in logs if entry["action"] == "execution_row_refused"]
        assert refused["event_id"] == "bad" and log.dropped == 1
    finally:
        await log.stop()


def test_an_events_execution_row_has_one_id_ordered_by_when_it_arrived() -> None:
    arrived = datetime(2026, 12, 1, 17, 0, 0, 123000, tzinfo=UTC)
    first = execution_id("evt-1", arrived)
    assert execution_id("evt-1", arrived) == first  # every attempt: the same row
    assert execution_id("evt-2", arrived) != first
    assert int(first[:12], 16) == 1796144400123  # 2026-12-01T17:00:00.123Z in Unix ms
    assert uuid.UUID(hex=first).version == 7
    digest = hashlib.sha256(b"execution:evt-1").hexdigest()
    assert first[12:16][1:] == digest[:4][1:]  # after the version nibble: the digest


def test_an_execution_id_from_any_arrival_time_an_event_can_carry() -> None:
    long_ago = datetime(1, 1, 1, tzinfo=UTC)
    far_ahead = datetime(9999, 12, 31, tzinfo=UTC)
    assert execution_id("evt-1", long_ago) < execution_id("evt-1", far_ahead)
