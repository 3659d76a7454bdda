"""The edge every request passes (kernel/web.py), over real HTTP on loopback: one 422 shape
that never echoes the input, body limits (413), and a plain JSON 500 whose traceback is
logged once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter

from tests.support import build_app, kept_logging_state, live_server
from waddlebot.accounts.service import AccountsService
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.kernel.observability.logging import configure_logging
from waddlebot.kernel.service import Service
from waddlebot.kernel.settings import Settings
from waddlebot.modules.core import module as core
from waddlebot.router.service import RouterService

PLAYGROUND = "/api/playground/v1/messages"
LOGIN = "/api/auth/v1/login"
JSON = {"content-type": "application/json"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The embedded stack: the edge does not depend on the database or the backend."""
    return Settings(data_dir=tmp_path / "data", secret_key="test-secret", log_format="console")


@pytest.fixture
def json_logs() -> Iterator[None]:
    """JSON logging for the test, then the process-wide logging state as it was."""
    with kept_logging_state():
        configure_logging("INFO", "json")
        yield


def records(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


UNSERIALISABLE = [
    ("text", b'{"text": NaN}'),
    ("text", b'{"text": Infinity}'),
    ("text", b'{"text": -Infinity}'),
    ("text", b'{"text": 1e999}'),
    ("text", b'{"text": "\\ud800"}'),
    ("user", b'{"text": "!ping", "user": "\\udfff"}'),
    ("role", b'{"text": "!ping", "role": NaN}'),
]


@pytest.mark.parametrize(("field", "body"), UNSERIALISABLE)
async def test_unserialisable_input_is_a_422_naming_the_field(
    settings: Settings, field: str, body: bytes
) -> None:
    """NaN, infinities and lone surrogates used to make the 422 answer itself crash (500)."""
    app = create_app(
        settings, instances=[RouterService(modules=[core]), PlaygroundService(), AccountsService()]
    )
    async with live_server(app) as bot:
        answer = await bot.client.post(PLAYGROUND, content=body, headers={**JSON, **bot.operator})
        assert answer.status_code == 422, answer.text
        assert [problem["field"] for problem in answer.json()["errors"]] == [field]
        assert answer.json()["detail"].startswith(f"invalid request: {field}: ")

        login = body.replace(b'"text"', b'"email"').replace(b'"user"', b'"password"')
        refused = await bot.client.post(LOGIN, content=login, headers=JSON)
        assert refused.status_code == 422, refused.text
        assert "email" in refused.json()["detail"] or "password" in refused.json()["detail"]


async def test_422_is_one_line_with_fields_and_never_echoes_the_input(settings: Settings) -> None:
    async with live_server(build_app(settings, with_testkit=False)) as bot:
        huge = "A" * 100_000
        answer = await bot.client.post(
            PLAYGROUND, json={"text": huge, "role": "king", "x": 1}, headers=bot.operator
        )
    assert answer.status_code == 422
    body = answer.json()
    assert set(body) == {"detail", "errors"}
    assert [problem["field"] for problem in body["errors"]] == ["role", "text", "x"]
    assert all(set(problem) == {"field", "message"} for problem in body["errors"])
    assert body["detail"] == (
        "invalid request: role: Value error, unknown role 'king'; expected one of: everyone, "
        "subscriber, vip, moderator, broadcaster; text: String should have at most 4000 "
        "characters; x: Extra inputs are not permitted"
    )
    assert "AAAA" not in answer.text and len(answer.content) < 1000


async def test_bodies_over_the_limit_are_413_everywhere(settings: Settings) -> None:
    async with live_server(build_app(settings, with_testkit=False)) as bot:
        big = {"text": "!ping", "pad": "x" * (1024 * 1024)}
        answer = await bot.client.post(PLAYGROUND, json=big, headers=bot.operator)
        assert answer.status_code == 413
        assert answer.json() == {"detail": "the request body is larger than 1048576 bytes"}
        webhook = await bot.client.post("/webhooks/anything", content=b"x" * (256 * 1024 + 1))
        assert webhook.status_code == 413
        assert webhook.json() == {"detail": "the request body is larger than 262144 bytes"}
        assert (await bot.client.post("/webhooks/anything", content=b"x" * 1000)).status_code == 404


class Crashing(Service):
    """A service whose only route fails with an unexpected error."""

    name = "crashing"

    def api(self) -> APIRouter:
        api = APIRouter()

        @api.get("/boom")
        async def boom() -> None:
            raise RuntimeError("connection string postgres://secret@db")

        return api


async def test_an_unhandled_error_is_a_plain_500_logged_once_with_its_traceback(
    settings: Settings, json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "json")  # onto the stderr capsys captures
    async with live_server(create_app(settings, instances=[Crashing()])) as server:
        answer = await server.client.get("/boom")
        assert (await server.client.get("/healthz")).status_code == 200  # still serving
    assert answer.status_code == 500
    assert answer.json() == {"detail": "internal server error"}
    assert "secret" not in answer.text
    logged = [r for r in records(capsys.readouterr().err) if r.get("level") == "error"]
    assert len(logged) == 1, logged
    (crash,) = logged
    assert (crash["event"], crash["category"], crash["path"]) == (
        "request_crashed",
        "ERROR",
        "/boom",
    )
    assert crash["exception"].startswith("Traceback (most recent call last):")
    assert "in boom" in crash["exception"]
    assert crash["exception"].endswith("RuntimeError: connection string postgres://secret@db")
