"""A real restart: ``waddlebot up`` on SQLite (its data directory) and on PostgreSQL, the
example ``dice`` module served over HTTP on loopback and installed through the marketplace,
rolls counted through the router's signed host API, the process stopped and started again:
the count is still there."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from examples.dice.dice import module as dice

from tests.cli.processes import start, stop, wait_healthy
from tests.conftest import DATABASE_URL, fresh_postgres_database, require_service
from tests.support import free_port, serve_asgi
from waddlebot.kernel.security.service_tokens import service_headers
from waddlebot.sdk.adapters import http_app

SECRET = "secret-of-this-restartable-installation"
MANIFEST = Path(__file__).parents[2] / "examples" / "dice" / "manifest.json"


@pytest.fixture(params=["sqlite", "postgres"])
async def up_env(
    request: pytest.FixtureRequest, env: dict[str, str]
) -> AsyncIterator[dict[str, str]]:
    url = f"http://127.0.0.1:{env['WADDLEBOT_PORT']}"
    base = {**env, "WADDLEBOT_SECRET_KEY": SECRET, "WADDLEBOT_PUBLIC_URL": url}
    if request.param == "sqlite":
        yield base
        return
    server = require_service(DATABASE_URL, "PostgreSQL", "WADDLEBOT_TEST_DATABASE_URL")
    async with fresh_postgres_database(server) as database:
        yield {**base, "WADDLEBOT_DATABASE_URL": database}


async def say(client: httpx.AsyncClient, text: str) -> list[str]:
    answer = await client.post(
        "/api/playground/v1/messages",
        json={"channel": "lobby", "user": "alice", "role": "everyone", "text": text},
    )
    assert answer.status_code == 200, answer.text
    return [reply["text"] for reply in answer.json()["replies"]]


async def test_module_data_survives_a_restart_of_up(up_env: dict[str, str]) -> None:
    url = up_env["WADDLEBOT_PUBLIC_URL"]
    module_port = free_port()
    manifest: dict[str, Any] = json.loads(MANIFEST.read_text())
    manifest["endpoint"] = f"http://127.0.0.1:{module_port}/"
    operator = service_headers(SECRET, "test")

    process = start(["up"], up_env)
    try:
        wait_healthy(url, process)
        async with httpx.AsyncClient(base_url=url, headers=operator, timeout=30) as client:
            published = await client.post("/api/marketplace/v1/modules", json=manifest)
            assert published.status_code == 201, published.text
            signing_secret = published.json()["signing_secret"]
            assert await say(client, "!ping") == ["pong"]
            lookup = await client.get(
                "/api/marketplace/v1/communities/lookup",
                params={"platform": "playground", "server_id": "playground", "channel_id": "lobby"},
            )
            community = lookup.json()["community_id"]
            installed = await client.put(
                f"/api/marketplace/v1/communities/{community}/modules/dice", json={"config": {}}
            )
            assert installed.status_code == 200, installed.text
            async with serve_asgi(http_app(dice, signing_secret), port=module_port):
                [rolled] = await say(client, "!roll 6 3")
                assert rolled.startswith("alice rolled ")
                assert await say(client, "!dice stats") == ["3 dice rolled in this community."]
    finally:
        stop(process)

    process = start(["up"], up_env)  # same data directory / database, a new process
    try:
        wait_healthy(url, process)
        async with (
            httpx.AsyncClient(base_url=url, headers=operator, timeout=30) as client,
            serve_asgi(http_app(dice, signing_secret), port=module_port),
        ):
            assert await say(client, "!dice stats") == ["3 dice rolled in this community."]
            await say(client, "!roll 6 2")
            assert await say(client, "!dice stats") == ["5 dice rolled in this community."]
    finally:
        stop(process)
