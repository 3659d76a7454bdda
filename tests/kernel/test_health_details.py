"""``/api/health/v1/details``: admins only; dependencies, tasks and platforms after real
traffic, on both stacks; platform views published by other processes are merged."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import bearer, build_app, live_server
from waddlebot.app import create_app
from waddlebot.kernel.backends.memory import MemoryBackend
from waddlebot.kernel.observability.platforms import (
    FAILURE_WINDOW,
    PLATFORM_HEALTH,
    PlatformView,
    installation_view,
    platform_key,
)
from waddlebot.kernel.security.api_keys import create_api_key
from waddlebot.kernel.security.service_tokens import service_headers
from waddlebot.kernel.settings import Settings

pytestmark = pytest.mark.replica_reads  # the details list the replica and its state

DETAILS = "/api/health/v1/details"


@pytest.fixture(autouse=True)
def fresh_platform_views() -> Iterator[None]:
    """The platform views are process-global: another test in this worker may have failed a
    send or set a token flag, and these tests count from zero."""
    PLATFORM_HEALTH.views.clear()
    yield
    PLATFORM_HEALTH.views.clear()


async def test_admins_see_dependencies_tasks_and_platforms(stack_settings: Settings) -> None:
    async with live_server(build_app(stack_settings, with_testkit=False)) as server:
        assert (await server.client.get(DETAILS)).status_code == 401
        runtime = server.app.state.runtime
        key, _ = await create_api_key(runtime.db, name="ops", scopes=["identity:manage"])
        assert (await server.client.get(DETAILS, headers=bearer(key))).status_code == 403

        assert await server.texts("!ping")
        answer = await server.client.get(DETAILS, headers=server.operator)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "ready"
    backend = "memory" if isinstance(runtime.backend, MemoryBackend) else "redis"
    replicas = {f"replica_{n}" for n in range(len(stack_settings.database_replica_urls))}
    assert set(body["dependencies"]) == {"database", backend} | replicas
    assert set(body["replicas"]) == replicas  # their state in use / skipped, and their lag
    for state in body["dependencies"].values():
        assert state["reachable"] is True and state["latency_ms"] >= 0
    assert any(name.endswith("workers") for name in body["tasks"])
    playground = body["platforms"]["playground"]
    assert playground["configured"] is True
    assert playground["last_event_at"] and playground["last_sent_at"]
    assert playground["send_failures_5m"] == 0
    assert body["platforms"]["twitch"]["processes"] >= 0  # every platform is listed


async def test_other_processes_views_are_merged(stack_settings: Settings) -> None:
    async with live_server(build_app(stack_settings, with_testkit=False)) as server:
        kv = server.app.state.runtime.backend.kv
        now = time.time()
        gateway = {  # what a Discord gateway process published
            "at": now,
            "configured": True,
            "connected": False,
            "connection": "gateway",
            "connection_detail": "disconnected, reconnecting",
            "token_valid": None,
            "token_expires_at": None,
            "last_event_at": now - 30,
            "last_sent_at": None,
            "send_failures_5m": 2,
        }
        stale = {**gateway, "at": now - 3600, "send_failures_5m": 50}
        PLATFORM_HEALTH.send_failed("discord")  # this process failed one send too
        for _ in range(5):
            # this process's own publisher may rewrite the key between the set and the read
            # (the documented read-modify-write race, mended by the next round): set again
            await kv.set(
                platform_key("discord"), json.dumps({"gw:1": gateway, "gone:2": stale}), ttl=60
            )
            discord = (await installation_view(kv))["discord"]
            if discord["processes"] == 2:
                break
    assert discord["connected"] is False
    assert discord["connection"] == "gateway"
    assert discord["last_event_at"] is not None
    assert discord["processes"] == 2  # the stale one is left out
    assert discord["send_failures_5m"] >= 3


def test_send_failures_older_than_five_minutes_fall_out() -> None:
    view = PlatformView()
    now = time.time()
    view.failures.extend([now - FAILURE_WINDOW - 10, now - 60, now - 1])
    assert view.report(now)["send_failures_5m"] == 2


async def test_details_still_answer_when_redis_is_away(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        secret_key="s",
        log_format="console",
        redis_url="redis://127.0.0.1:1/0",
        database_replica_urls=["postgresql+asyncpg://postgres@127.0.0.1:1/x"],
    )
    app = create_app(settings, instances=[], migrate=False)
    async with live_server(app) as server:
        answer = await server.client.get(DETAILS, headers=service_headers("s", "ops"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "unavailable"
    assert body["dependencies"]["database"]["reachable"] is True
    assert body["dependencies"]["redis"]["reachable"] is False
    assert body["dependencies"]["replica_0"]["reachable"] is False
    assert "error" in body["platforms"]
