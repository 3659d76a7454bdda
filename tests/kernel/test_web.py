"""Health, readiness and metrics endpoints, served over real HTTP on both stacks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.support import build_app, live_server
from waddlebot.app import create_app
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.web import health_api

UNREACHABLE_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:1/x"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


async def test_healthz_and_readyz_on_both_stacks(stack_settings: Settings) -> None:
    async with live_server(build_app(stack_settings, with_testkit=False)) as server:
        health = await server.client.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}

        ready = await server.client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "checks": {"database": True, "cache": True, "workers": True},
        }


async def test_metrics_are_prometheus_text(stack_settings: Settings) -> None:
    async with live_server(build_app(stack_settings, with_testkit=False)) as server:
        await server.say("!ping")  # some traffic through router ingress
        answer = await server.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    body = answer.text
    assert "# TYPE waddlebot_events_in_total counter" in body
    assert 'waddlebot_events_in_total{platform="playground",type="message"}' in body
    assert "# TYPE waddlebot_module_execution_seconds histogram" in body


async def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, secret_key="s", log_format="console", database_url=UNREACHABLE_POSTGRES
    )
    app = create_app(settings, instances=[], migrate=False)
    assert set(app.openapi()["paths"]) == {
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/health/v1/details",
        "/api/coordination/v1/leases",
    }
    async with live_server(app) as server:
        assert (await server.client.get("/healthz")).status_code == 200
        ready = await server.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "checks": {"database": False, "cache": True, "workers": True},
    }


@pytest.fixture
async def health_only(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, Path]]:
    """A bare app with just the health router; each test attaches its own runtime."""
    app = FastAPI()
    app.include_router(health_api())
    yield app, tmp_path


async def readyz_with(app: FastAPI, settings: Settings) -> httpx.Response:
    runtime = await Runtime.open(settings)
    app.state.runtime = runtime
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/healthz")).status_code == 200
            return await client.get("/readyz")
    finally:
        await runtime.close()


async def test_readyz_503_names_the_unreachable_database(
    health_only: tuple[FastAPI, Path],
) -> None:
    app, tmp_path = health_only
    settings = Settings(data_dir=tmp_path, secret_key="s", database_url=UNREACHABLE_POSTGRES)
    answer = await readyz_with(app, settings)
    assert answer.status_code == 503
    assert answer.json() == {
        "status": "unavailable",
        "checks": {"database": False, "cache": True, "workers": True},
    }


async def test_readyz_503_names_the_unreachable_cache(health_only: tuple[FastAPI, Path]) -> None:
    app, tmp_path = health_only
    settings = Settings(data_dir=tmp_path, secret_key="s", redis_url=UNREACHABLE_REDIS)
    answer = await readyz_with(app, settings)
    assert answer.status_code == 503
    assert answer.json() == {
        "status": "unavailable",
        "checks": {"database": True, "cache": False, "workers": True},
    }


async def test_readyz_200_on_embedded_runtime(health_only: tuple[FastAPI, Path]) -> None:
    app, tmp_path = health_only
    answer = await readyz_with(app, Settings(data_dir=tmp_path, secret_key="s"))
    assert answer.status_code == 200
    assert answer.json()["checks"] == {"database": True, "cache": True, "workers": True}


async def test_a_dead_replica_is_probed_but_does_not_fail_readyz(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        secret_key="s",
        log_format="console",
        database_replica_urls=[UNREACHABLE_POSTGRES],
    )
    app = create_app(settings, instances=[], migrate=False)
    async with live_server(app) as server:
        ready = await server.client.get("/readyz")
        metrics = (await server.client.get("/metrics")).text
    assert ready.status_code == 200, ready.text
    assert 'waddlebot_dependency_up{dependency="replica_0"} 0.0' in metrics
    assert 'waddlebot_dependency_up{dependency="database"} 1.0' in metrics
    assert 'waddlebot_dependency_up{dependency="memory"} 1.0' in metrics
