"""CrashGuard (kernel/web.py): an unexpected error anywhere in a request answers a plain JSON
500 at once and logs its traceback once, whatever the logging setup.

The bug this guards against: the guard handed the error to structlog as ``exc_info``. Where
logging was never configured (tests, the schema fuzz run, an embedded app) structlog's default
renderer drew the traceback with rich, source highlighted and every frame's locals printed:
7 to 30 seconds on the event loop per crash, so the live server stood still and clients timed
out instead of reading the 500. Each request here is bounded by a short client timeout and a
wall-clock bound (a client sharing the server's blocked loop cannot time out by itself).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Annotated

import anyio
import httpx
import pytest
import sqlalchemy.exc
import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import StreamingResponse

import waddlebot.kernel.web as web
from tests.support import kept_logging_state, live_server, serve_in_thread
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.kernel.observability.logging import configure_logging
from waddlebot.kernel.security.service_tokens import service_headers
from waddlebot.kernel.service import Service
from waddlebot.kernel.settings import Settings
from waddlebot.modules.core import module as core
from waddlebot.router.service import RouterService
from waddlebot.sdk import Module
from waddlebot.sdk.web import Reader, database

PROMPT = 3.0
"""Seconds a 500 may take here: it takes ~10 ms; the bug took 7-30 s."""
SECRET = "test-secret"
MODULE = "/api/crashy/v1/communities/c1"

crashy = Module("crashy", description="Routes that fail, mounted like a built-in module's.")
crashy_api = crashy.api()


async def failing_dependency() -> None:
    raise RuntimeError("dependency failed")


async def session_dependency(request: Request) -> AsyncIterator[None]:
    """A dependency holding a database transaction while the route fails."""
    async with database(request).session():
        yield


@crashy_api.get("/communities/{community_id}/boom")
async def boom(community_id: str, _: Reader) -> None:
    raise RuntimeError("module route failed")


@crashy_api.get("/communities/{community_id}/sync-boom")
def sync_boom(community_id: str, _: Reader) -> None:
    raise RuntimeError("sync module route failed")


@crashy_api.get("/communities/{community_id}/dependency")
async def dependency(
    community_id: str, _: Reader, __: Annotated[None, Depends(failing_dependency)]
) -> None:
    return None


@crashy_api.get("/communities/{community_id}/in-session")
async def in_session(
    community_id: str, _: Reader, __: Annotated[None, Depends(session_dependency)]
) -> None:
    raise RuntimeError("route failed inside a transaction")


@crashy_api.get("/communities/{community_id}/group")
async def group(community_id: str, _: Reader) -> None:
    async def fail() -> None:
        raise RuntimeError("child task failed")

    async with anyio.create_task_group() as tasks:  # raises an ExceptionGroup
        tasks.start_soon(fail)
        tasks.start_soon(anyio.sleep, 10)


@crashy_api.get("/communities/{community_id}/integrity")
async def integrity(community_id: str, _: Reader) -> None:
    """A driver error the outage handler is registered for, re-raised: not an outage."""
    raise sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("FOREIGN KEY constraint failed"))


@crashy_api.get("/communities/{community_id}/stream")
async def stream(community_id: str, _: Reader) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first line\n"
        raise RuntimeError("stream failed midway")

    return StreamingResponse(chunks(), media_type="text/plain")


class Crashing(Service):
    """A plain service route (not a module's)."""

    name = "crashing"

    def api(self) -> APIRouter:
        api = APIRouter()

        @api.get("/boom")
        async def service_boom() -> None:
            raise RuntimeError("service route failed")

        return api


# path → the last line of its traceback (exactly once in the log)
CRASHES = {
    f"{MODULE}/boom": "RuntimeError: module route failed",
    f"{MODULE}/sync-boom": "RuntimeError: sync module route failed",
    f"{MODULE}/dependency": "RuntimeError: dependency failed",
    f"{MODULE}/in-session": "RuntimeError: route failed inside a transaction",
    f"{MODULE}/group": "RuntimeError: child task failed",
    f"{MODULE}/integrity": "IntegrityError: (builtins.Exception) FOREIGN KEY constraint failed",
    "/boom": "RuntimeError: service route failed",
}


def crashing_app(tmp_path: Path) -> FastAPI:
    """The real app, the test module mounted by the router service as built-in ones are."""
    settings = Settings(data_dir=tmp_path / "data", secret_key=SECRET, log_format="console")
    return create_app(
        settings,
        instances=[RouterService(modules=[core, crashy]), PlaygroundService(), Crashing()],
    )


def use_structlog_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Logging as in the schema fuzz run: structlog never configured, no root handler."""
    structlog.reset_defaults()
    logging.getLogger().handlers[:] = []
    # a fresh proxy: the module's own may have cached an earlier test's configuration
    monkeypatch.setattr(web, "logger", structlog.get_logger(web.__name__))


@pytest.fixture(params=["unconfigured", "console", "json"])
def logging_setup(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], None]]:
    """Sets up structlog's defaults or one of ``configure_logging``'s formats when the test
    calls it (in the test body, so the handler writes where capsys reads); afterwards the
    process-wide logging state is as it was."""

    def setup() -> None:
        if request.param == "unconfigured":
            use_structlog_defaults(monkeypatch)
        else:
            configure_logging("INFO", request.param)
            # no caching: a module's logger bound now would keep this configuration after
            # the test, and later tests' capture_logs would not see its lines
            structlog.configure(cache_logger_on_first_use=False)
            monkeypatch.setattr(web, "logger", structlog.get_logger(web.__name__))

    with kept_logging_state():
        yield setup


def crash_lines(logged: str) -> int:
    return sum("request_crashed" in line for line in logged.splitlines())


def assert_logged_once(logged: str, path: str, last_line: str) -> None:
    """One ``request_crashed`` line for ``path`` with its traceback, nothing logged twice."""
    assert crash_lines(logged) == 1, logged
    assert path in logged
    assert logged.count(last_line) == 1, logged
    assert "Traceback (most recent call last)" in logged
    assert "Exception in ASGI application" not in logged  # the server saw nothing escape


async def test_every_crash_is_a_prompt_json_500_in_process(
    tmp_path: Path, logging_setup: Callable[[], None], capsys: pytest.CaptureFixture[str]
) -> None:
    """Through ``httpx.ASGITransport`` (which would raise whatever escaped the app)."""
    logging_setup()
    app = crashing_app(tmp_path)
    headers = service_headers(SECRET, "test")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=PROMPT
        ) as client,
    ):
        capsys.readouterr()
        for path, last_line in CRASHES.items():
            started = time.monotonic()
            answer = await client.get(path, headers=headers)
            took = time.monotonic() - started
            assert answer.status_code == 500, (path, answer.text)
            assert answer.json() == {"detail": "internal server error"}, path
            assert took < PROMPT, f"{path} answered after {took:.1f} s"
            captured = capsys.readouterr()
            assert_logged_once(captured.out + captured.err, path, last_line)


async def test_every_crash_is_a_prompt_json_500_over_http(
    tmp_path: Path, logging_setup: Callable[[], None], capsys: pytest.CaptureFixture[str]
) -> None:
    """Through uvicorn on loopback, as ``live_server`` serves the app; the server keeps
    serving after each crash."""
    logging_setup()
    async with live_server(crashing_app(tmp_path)) as server:
        capsys.readouterr()
        for path, last_line in CRASHES.items():
            started = time.monotonic()
            answer = await server.client.get(path, headers=server.operator, timeout=PROMPT)
            took = time.monotonic() - started
            assert answer.status_code == 500, (path, answer.text)
            assert answer.headers["content-type"] == "application/json"
            assert answer.json() == {"detail": "internal server error"}, path
            assert took < PROMPT, f"{path} answered after {took:.1f} s"
            captured = capsys.readouterr()
            assert_logged_once(captured.out + captured.err, path, last_line)
            assert (await server.client.get("/healthz", timeout=PROMPT)).status_code == 200


async def test_a_crash_after_the_answer_started_closes_the_connection_at_once(
    tmp_path: Path, logging_setup: Callable[[], None], capsys: pytest.CaptureFixture[str]
) -> None:
    """Headers and a first chunk are out: no 500 can follow, so the connection is cut (the
    client sees a truncated body, never a hang) and the traceback is logged once."""
    logging_setup()
    async with live_server(crashing_app(tmp_path)) as server:
        capsys.readouterr()
        started = time.monotonic()
        with pytest.raises(httpx.RemoteProtocolError):
            await server.client.get(f"{MODULE}/stream", headers=server.operator, timeout=PROMPT)
        assert time.monotonic() - started < PROMPT
        captured = capsys.readouterr()
        logged = captured.out + captured.err
        assert crash_lines(logged) == 1, logged
        assert logged.count("RuntimeError: stream failed midway") == 1, logged
        assert (await server.client.get("/healthz", timeout=PROMPT)).status_code == 200


@pytest.mark.parametrize("logging_setup", ["unconfigured"], indirect=True)
def test_a_client_in_another_thread_reads_the_500_before_its_timeout(
    tmp_path: Path, logging_setup: Callable[[], None]
) -> None:
    """The schema fuzz's shape: the server in a thread of its own, a client whose timeout
    really fires if the server's loop stalls (unconfigured, it did: ReadTimeout)."""
    logging_setup()
    with (
        serve_in_thread(crashing_app(tmp_path)) as url,
        httpx.Client(base_url=url, timeout=PROMPT) as client,
    ):
        headers = service_headers(SECRET, "test")
        for path in (f"{MODULE}/boom", f"{MODULE}/integrity", "/boom"):
            answer = client.get(path, headers=headers)
            assert answer.status_code == 500, (path, answer.text)
            assert answer.json() == {"detail": "internal server error"}
