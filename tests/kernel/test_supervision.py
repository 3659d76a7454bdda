"""Supervised background tasks: restarted with backoff, one log line per outage, /readyz."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.exceptions
import structlog
from fastapi import APIRouter

from tests.support import live_server
from waddlebot.app import create_app
from waddlebot.kernel.outages import Backoff
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.service import Service
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.supervision import TaskHealth, report_healthy, supervise

FAST = Backoff(initial=0.01, maximum=0.05)


async def wait_for(condition: object, seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_a_failing_task_is_restarted_and_logs_once_per_outage() -> None:
    calls = 0
    worked = asyncio.Event()

    async def loop() -> None:
        nonlocal calls
        calls += 1
        if calls <= 5:  # Redis is away for five attempts
            raise redis.exceptions.ConnectionError("Connection refused")
        report_healthy()
        worked.set()
        await asyncio.Event().wait()

    health = TaskHealth("test:loop")
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(supervise(health, loop, backoff=FAST))
        async with asyncio.timeout(10):
            await worked.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    actions = [line["event"] for line in logs if line["event"].startswith("background_task")]
    assert actions == ["background_task_lost", "background_task_recovered"]
    lost = next(line for line in logs if line["event"] == "background_task_lost")
    assert lost["task"] == "test:loop"
    assert lost["dependency"] == "cache"
    assert lost["traceback"] is None  # an outage needs no stack
    recovered = next(line for line in logs if line["event"] == "background_task_recovered")
    assert recovered["failures"] == 5
    assert calls == 6
    assert health.state == "stopped"  # cancelled


async def test_a_restarted_task_that_keeps_running_counts_as_recovered() -> None:
    calls = 0

    async def loop() -> None:  # never reports: recovery is judged by staying up
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug")
        await asyncio.Event().wait()

    health = TaskHealth("test:quiet")
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(supervise(health, loop, backoff=FAST, stable_after=0.2))
        await wait_for(lambda: health.state == "recovering")
        assert not health.healthy
        await wait_for(lambda: health.state == "running")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    lost = next(line for line in logs if line["event"] == "background_task_lost")
    assert lost["dependency"] is None
    assert "RuntimeError: a bug" in lost["traceback"]  # a bug keeps its stack


class Flaky(Service):
    """A service whose loop fails until ``fixed`` is set."""

    name = "flaky"

    def __init__(self) -> None:
        super().__init__()
        self.fixed = False

    def api(self) -> APIRouter:
        return APIRouter()

    async def start(self, runtime: Runtime) -> None:
        self.spawn("loop", self.loop)

    async def loop(self) -> None:
        if not self.fixed:
            raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:1")
        report_healthy()
        await asyncio.Event().wait()


async def test_readyz_names_a_task_in_backoff_until_it_works_again(tmp_path: Path) -> None:
    flaky = Flaky()
    settings = Settings(data_dir=tmp_path, secret_key="s", log_format="console")
    async with live_server(create_app(settings, instances=[flaky])) as server:
        await wait_for(lambda: flaky.health["flaky:loop"].failures >= 1)
        down = await server.client.get("/readyz")
        assert down.status_code == 503
        body = down.json()
        assert body["checks"] == {"database": True, "cache": True, "workers": False}
        assert body["failing"]["flaky:loop"]["state"] in ("backoff", "recovering")
        assert "ConnectionError" in body["failing"]["flaky:loop"]["error"]

        flaky.fixed = True
        await wait_for(lambda: flaky.health["flaky:loop"].state == "running")
        up = await server.client.get("/readyz")
        assert up.status_code == 200
        assert "failing" not in up.json()
