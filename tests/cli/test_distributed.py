"""Distributed mode as an operator runs it: one process per service on PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.cli.processes import start, stop, wait_healthy
from tests.conftest import (
    DATABASE_URL,
    REDIS_URL,
    drop_test_keys,
    fresh_postgres_database,
    require_service,
)
from tests.support import free_port
from waddlebot.kernel.backends import open_backend
from waddlebot.kernel.contracts import Event, Platform, UserRef
from waddlebot.kernel.contracts.names import EVENTS_QUEUE
from waddlebot.kernel.security.service_tokens import service_headers
from waddlebot.kernel.settings import normalise_database_url
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import CommandExecution
from waddlebot.router.worker import event_state_key


@pytest.fixture
async def shared_env(env: dict[str, str], tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    redis_url = require_service(REDIS_URL, "Redis", "WADDLEBOT_TEST_REDIS_URL")
    db_url = require_service(DATABASE_URL, "PostgreSQL", "WADDLEBOT_TEST_DATABASE_URL")
    namespace = f"wbtest-{uuid.uuid4().hex[:12]}"
    async with fresh_postgres_database(db_url) as database:
        yield {
            **env,
            "WADDLEBOT_DATABASE_URL": database,
            "WADDLEBOT_REDIS_URL": redis_url,
            "WADDLEBOT_REDIS_NAMESPACE": namespace,
            "WADDLEBOT_SECRET_KEY": "shared-secret-of-this-installation",
        }
    backend = await open_backend(redis_url, namespace=namespace)
    await drop_test_keys(backend)
    await backend.close()


async def test_router_and_playground_as_separate_processes(shared_env: dict[str, str]) -> None:
    router_port, playground_port = free_port(), free_port()
    router = start(["serve", "router", "--port", str(router_port)], shared_env)
    playground_env = {**shared_env, "WADDLEBOT_ROUTER_URL": f"http://127.0.0.1:{router_port}"}
    playground = start(["serve", "playground", "--port", str(playground_port)], playground_env)
    try:
        wait_healthy(f"http://127.0.0.1:{router_port}", router)
        wait_healthy(f"http://127.0.0.1:{playground_port}", playground)
        operator = service_headers(shared_env["WADDLEBOT_SECRET_KEY"], "test")
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{playground_port}", headers=operator
        ) as client:
            for text, expected in [
                ("!ping", ["pong"]),
                ("!reload", ["@alice !reload needs the commands.manage permission here."]),
            ]:
                answer = await client.post(
                    "/api/playground/v1/messages",
                    json={"channel": "lobby", "user": "alice", "text": text},
                    timeout=15,
                )
                assert answer.status_code == 200, answer.text
                assert [r["text"] for r in answer.json()["replies"]] == expected
            # The playground process does not route: its ingress is not mounted.
            missing = await client.post("/api/router/v1/events", json={})
            assert missing.status_code == 404
    finally:
        stop(playground)
        stop(router)


async def test_a_sigkilled_router_loses_no_execution_row(shared_env: dict[str, str]) -> None:
    """Kill -9 mid-burst: every event it finished has its row; a new router finishes the rest,
    and in the end every event has exactly one row."""
    env = {
        **shared_env,
        "WADDLEBOT_ROUTER_VISIBILITY_TIMEOUT": "1",
        "WADDLEBOT_RATE_LIMIT_USER": "100000",
        "WADDLEBOT_RATE_LIMIT_ENTITY": "100000",
    }
    backend = await open_backend(
        env["WADDLEBOT_REDIS_URL"], namespace=env["WADDLEBOT_REDIS_NAMESPACE"]
    )
    db = Database(normalise_database_url(env["WADDLEBOT_DATABASE_URL"]))
    events = [
        Event(
            id=f"kill-{n}",
            platform=Platform.twitch,  # no Twitch sender runs: replies stay queued
            server_id="s",
            channel_id="c",
            user=UserRef(id=f"u{n % 10}", name=f"viewer{n % 10}"),
            text="!ping",
        )
        for n in range(600)
    ]
    try:
        await backend.queues.put(
            EVENTS_QUEUE, [e.model_dump_json().encode() for e in events], max_length=10_000
        )
        router = start(["serve", "router", "--port", str(free_port())], env)
        try:
            async with asyncio.timeout(120):
                while await backend.queues.depth(EVENTS_QUEUE) > 400:
                    assert router.poll() is None, router.stderr.read() if router.stderr else ""
                    await asyncio.sleep(0.02)
        finally:
            router.kill()  # SIGKILL: no shutdown, no flush
            router.wait()
        markers = await backend.kv.get_many(*(event_state_key(e.id) for e in events))
        done = {
            e.id for e, marker in zip(events, markers, strict=True) if marker and b"done:" in marker
        }
        rows = await execution_rows(db)
        assert done and sorted(done - set(rows)) == []

        port = free_port()
        router = start(["serve", "router", "--port", str(port)], env)
        try:
            wait_healthy(f"http://127.0.0.1:{port}", router)
            async with asyncio.timeout(120):
                while await backend.queues.depth(EVENTS_QUEUE) > 0:
                    await asyncio.sleep(0.1)
        finally:
            stop(router)
        assert await execution_rows(db) == {e.id: 1 for e in events}
    finally:
        await db.close()
        await backend.close()


async def execution_rows(db: Database) -> dict[str, int]:
    async with db.read_session() as session:
        found = await session.execute(
            select(CommandExecution.event_id, func.count()).group_by(CommandExecution.event_id)
        )
    return {str(row[0]): int(row[1]) for row in found.all()}
