"""One grep for an event id shows its whole path: the collector queuing it, the router
deciding and finishing it, the sender delivering its reply (real app on loopback, both
stacks, JSON logs at DEBUG); every request carries a request id back and in its lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import build_app, kept_logging_state, live_server
from waddlebot.kernel.observability.logging import configure_logging
from waddlebot.kernel.settings import Settings


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    with kept_logging_state():
        yield


def records(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue  # not one of ours (a library printing plain text)
    return found


async def test_one_event_id_follows_the_event_to_its_reply(
    stack_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("DEBUG", "json")  # here: its handler writes to the stderr capsys reads
    async with live_server(build_app(stack_settings, with_testkit=False)) as server:
        await server.texts("hello", user="warmup")  # the community and chatter exist now
        result = await server.say("!ping")
        assert result["replies"]
    lines = records(capsys.readouterr().err)
    event_id = result["event_id"]
    trail = [line["event"] for line in lines if line.get("event_id") == event_id]
    for step in ("event_queued", "!ping", "event_done", "reply_sent"):
        assert step in trail, (step, trail)
    assert trail.index("event_queued") < trail.index("event_done")
    # the webhook's request id is on the collector's lines of the same event
    queued = next(line for line in lines if line.get("event") == "event_queued")
    assert queued.get("request_id")
    # the warm-up event's lines keep their own id: bindings never leak between events
    warmup = {line.get("event_id") for line in lines if line.get("status") == "ignored"}
    assert warmup and event_id not in warmup


async def test_every_answer_carries_a_request_id(stack_settings: Settings) -> None:
    async with live_server(build_app(stack_settings, with_testkit=False)) as server:
        fresh = await server.client.get("/healthz")
        given = await server.client.get("/healthz", headers={"X-Request-ID": "kong-abc.123"})
        bad = await server.client.get("/healthz", headers={"X-Request-ID": "no spaces <here>"})
    assert len(fresh.headers["x-request-id"]) == 32
    assert given.headers["x-request-id"] == "kong-abc.123"
    assert bad.headers["x-request-id"] != "no spaces <here>"
