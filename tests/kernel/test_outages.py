"""A dependency that is away answers 503 with Retry-After, never 500, on every entry point."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support import build_app, free_port, live_server
from waddlebot.accounts.service import AccountsService
from waddlebot.app import create_app
from waddlebot.kernel.errors import DependencyUnavailable
from waddlebot.kernel.outages import dependency_of
from waddlebot.kernel.security.service_tokens import service_headers
from waddlebot.kernel.settings import Settings

EVENT = {
    "platform": "playground",
    "server_id": "playground",
    "channel_id": "lobby",
    "user": {"id": "alice", "name": "alice"},
    "text": "!ping",
}


def assert_unavailable(answer: object) -> None:
    status = answer.status_code  # type: ignore[attr-defined]
    assert status == 503, answer.text  # type: ignore[attr-defined]
    assert answer.headers["Retry-After"] == "5"  # type: ignore[attr-defined]
    assert "retry shortly" in answer.json()["detail"]  # type: ignore[attr-defined]


async def test_redis_away_answers_503_and_readyz_names_the_stuck_workers(tmp_path: Path) -> None:
    """Nobody listens on the Redis port: the process runs, but refuses work it cannot queue."""
    settings = Settings(
        data_dir=tmp_path,
        secret_key="s",
        log_format="console",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    async with live_server(build_app(settings)) as server:
        operator = service_headers("s", "test")
        ingress = await server.client.post("/api/router/v1/events", json=EVENT, headers=operator)
        assert_unavailable(ingress)
        playground = await server.client.post(
            "/api/playground/v1/messages", json={"text": "!ping"}, headers=operator
        )
        assert_unavailable(playground)

        async with asyncio.timeout(10):
            while True:
                ready = await server.client.get("/readyz")
                if "failing" in ready.json() and len(ready.json()["failing"]) >= 2:
                    break
                await asyncio.sleep(0.05)
        assert ready.status_code == 503
        body = ready.json()
        assert body["checks"] == {"database": True, "cache": False, "workers": False}
        assert {"router:workers", "playground:sender"} <= set(body["failing"])


async def test_login_answers_503_while_redis_is_away(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, secret_key="s", redis_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    async with live_server(create_app(settings, instances=[AccountsService()])) as server:
        login = await server.client.post(
            "/api/auth/v1/login", json={"email": "a@example.com", "password": "x" * 12}
        )
    assert_unavailable(login)


async def test_login_answers_503_while_the_database_is_away(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        secret_key="s",
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x",
    )
    app = create_app(settings, instances=[AccountsService()], migrate=False)
    async with live_server(app) as server:
        login = await server.client.post(
            "/api/auth/v1/login", json={"email": "a@example.com", "password": "x" * 12}
        )
    assert_unavailable(login)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (DependencyUnavailable("router"), "router"),
        (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)"), "backend"),
        (ValueError("bad input"), None),
        (KeyError("x"), None),
    ],
)
def test_dependency_of_tells_outages_from_bugs(error: BaseException, expected: str | None) -> None:
    assert dependency_of(error) == expected


def test_dependency_of_follows_the_cause() -> None:
    try:
        try:
            raise ConnectionResetError("reset by peer")
        except ConnectionResetError as inner:
            raise RuntimeError("while flushing") from inner
    except RuntimeError as outer:
        assert dependency_of(outer) == "backend"


async def test_a_refused_database_connection_is_named_database(tmp_path: Path) -> None:
    from waddlebot.kernel.storage import Database

    db = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x")
    try:
        with pytest.raises(Exception) as refused:  # whatever the driver raises
            await db.migrate()
    finally:
        await db.close()
    assert dependency_of(refused.value) == "database"
