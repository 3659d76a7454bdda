"""Distributed mode as an operator runs it: one process per service on PostgreSQL and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

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
from waddlebot.kernel.security.service_tokens import service_headers


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
