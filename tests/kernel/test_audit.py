"""The audit store: lines go to a bounded buffer, are written in batches, pruned, filtered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import replicas_caught_up
from waddlebot.kernel.audit import AuditFilter, AuditStore, audit_records
from waddlebot.kernel.errors import Invalid
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.storage import Database

logger = get_logger(__name__)
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def record(action: str, **overrides: object) -> dict[str, object]:
    return {
        "at": T0,
        "category": "AUTHZ",
        "action": action,
        "result": "allowed",
        "community_id": "c1",
        "user_id": "u1",
        "via": "chat",
        "details": {"permission": "commands.manage"},
        **overrides,
    }


async def wait_for(condition: object, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_log_lines_are_written_in_batches_not_one_by_one(database: Database) -> None:
    store = AuditStore(database, interval=0.05, batch=500)
    store.install()
    try:
        for n in range(300):
            log_event(logger, Category.AUTHZ, f"check{n}", "allowed", community="c1", user="u1")
        log_event(logger, Category.AUTHZ, "no community", "allowed", user="u1")
        log_event(logger, Category.SYSTEM, "not audited", "ok", community="c1")
        await wait_for(lambda: store.written == 300)
    finally:
        await store.stop()
    assert store.batches <= 3  # one write per gathered batch, not one per line
    await replicas_caught_up(database)  # written by the store's task, read from a replica
    records, more = await audit_records(database, "c1", size=500)
    assert len(records) == 300 and not more
    assert {r.category for r in records} == {"AUTHZ"}


async def test_a_full_buffer_drops_the_oldest_and_counts(database: Database) -> None:
    store = AuditStore(database, max_buffer=10)
    for n in range(15):
        store.offer(record(f"a{n}"))
    assert store.pending == 10 and store.dropped == 5
    await store.flush()
    actions = {r.action for r in (await audit_records(database, "c1"))[0]}
    assert actions == {f"a{n}" for n in range(5, 15)}


async def test_an_unusable_database_keeps_records_and_never_blocks(tmp_path: object) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/empty.db")  # not migrated: no table
    store = AuditStore(db, max_buffer=5, batch=3)
    try:
        for n in range(4):
            store.offer(record(f"a{n}"))  # returns at once, whatever the database does
        with pytest.raises(Exception):  # noqa: B017 - whichever error the driver raises
            await store.flush()
        assert store.pending == 4 and store.dropped == 0  # put back, in order
        store.offer(record("a4"))
        store.offer(record("a5"))
        assert store.pending == 5 and store.dropped == 1
    finally:
        await db.close()


async def test_records_older_than_the_retention_are_pruned(database: Database) -> None:
    store = AuditStore(database, retention_days=30)
    store.offer(record("old", at=T0 - timedelta(days=31)))
    store.offer(record("recent", at=T0 - timedelta(days=29)))
    await store.flush()
    assert await store.prune(T0) == 1
    assert [r.action for r in (await audit_records(database, "c1"))[0]] == ["recent"]


async def test_filters_and_pages(database: Database) -> None:
    store = AuditStore(database)
    for n in range(5):
        store.offer(record(f"member_role_set {n}", at=T0 + timedelta(hours=n)))
    store.offer(record("portal_login", category="AUTH", result="denied", user_id="u2"))
    store.offer(record("elsewhere", community_id="c2"))
    await store.flush()

    async def actions(where: AuditFilter, **paging: int) -> list[str]:
        return [r.action for r in (await audit_records(database, "c1", where, **paging))[0]]

    assert await actions(AuditFilter(category="AUTH")) == ["portal_login"]
    assert await actions(AuditFilter(result="denied")) == ["portal_login"]
    assert await actions(AuditFilter(user="u2")) == ["portal_login"]
    assert len(await actions(AuditFilter(action="ROLE_SET"))) == 5
    assert await actions(AuditFilter(action="%")) == []  # LIKE wildcards are literal
    window = AuditFilter(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3))
    assert await actions(window) == ["member_role_set 2", "member_role_set 1"]
    first, more = await audit_records(database, "c1", AuditFilter(category="AUTHZ"), size=2)
    assert [r.action for r in first] == ["member_role_set 4", "member_role_set 3"] and more
    last, more = await audit_records(database, "c1", AuditFilter(category="AUTHZ"), page=3, size=2)
    assert [r.action for r in last] == ["member_role_set 0"] and not more
    with pytest.raises(Invalid):
        await audit_records(database, "c1", AuditFilter(category="SYSTEM"))
    with pytest.raises(Invalid):
        await audit_records(database, "c1", AuditFilter(since=T0, until=T0 - timedelta(days=1)))


async def test_a_refused_row_is_dropped_alone(database: Database) -> None:
    """A row the database refuses for good (here: a duplicate id) cannot block the others."""
    store = AuditStore(database)
    store.offer(record("a"))
    again = dict(store._buffer[0])
    await store.flush()
    store._buffer.append(again)
    store.offer(record("b", details={"text": "nul\x00byte"}))
    assert await store.flush() == 1
    assert store.dropped == 1 and store.pending == 0
    found = {r.action: r for r in (await audit_records(database, "c1"))[0]}
    assert set(found) == {"a", "b"} and found["b"].details == {"text": "nulbyte"}
