"""Router ingress in isolation (no workers draining the queue), on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support import IngressOnly, live_server
from waddlebot.app import create_app
from waddlebot.kernel.contracts.names import EVENTS_QUEUE
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.security.api_keys import create_api_key
from waddlebot.kernel.security.service_tokens import service_token
from waddlebot.kernel.settings import Settings

Ingress = tuple[httpx.AsyncClient, Runtime]


def event(n: int = 0, **extra: object) -> dict[str, object]:
    return {
        "id": f"evt-{n}",
        "platform": "playground",
        "server_id": "s",
        "channel_id": "c",
        "user": {"id": "u", "name": "u"},
        "text": "!ping",
        **extra,
    }


@pytest.fixture
async def ingress(stack_settings: Settings) -> AsyncIterator[Ingress]:
    settings = stack_settings.model_copy(update={"router_queue_max": 150})
    app = create_app(settings, instances=[IngressOnly()])
    async with live_server(app) as server:
        server.client.headers["Authorization"] = "Bearer " + service_token("test-secret", "test")
        yield server.client, app.state.runtime


async def test_single_event_is_accepted_with_its_id(ingress: Ingress) -> None:
    client, runtime = ingress
    answer = await client.post("/api/router/v1/events", json=event(1))
    assert answer.status_code == 202
    assert answer.json() == {"accepted": ["evt-1"]}
    assert await runtime.backend.queues.depth(EVENTS_QUEUE) == 1


async def test_batch_is_accepted_whole(ingress: Ingress) -> None:
    client, runtime = ingress
    answer = await client.post("/api/router/v1/events", json=[event(n) for n in range(100)])
    assert answer.status_code == 202
    assert len(answer.json()["accepted"]) == 100
    assert await runtime.backend.queues.depth(EVENTS_QUEUE) == 100


async def test_batch_over_100_is_refused_whole(ingress: Ingress) -> None:
    client, runtime = ingress
    answer = await client.post("/api/router/v1/events", json=[event(n) for n in range(101)])
    assert answer.status_code == 422
    assert "at most 100" in answer.text
    assert await runtime.backend.queues.depth(EVENTS_QUEUE) == 0


async def test_one_bad_event_refuses_the_batch(ingress: Ingress) -> None:
    client, runtime = ingress
    batch = [event(0), event(1, platform="myspace"), event(2, unknown_field=1)]
    answer = await client.post("/api/router/v1/events", json=batch)
    assert answer.status_code == 422
    body = answer.json()
    fields = [problem["field"] for problem in body["errors"]]
    assert fields == ["1.platform", "2.unknown_field"]
    assert body["detail"].startswith("invalid request: 1.platform: Input should be")
    assert "2.unknown_field: Extra inputs are not permitted" in body["detail"]
    assert "myspace" not in answer.text  # the input is never echoed
    assert await runtime.backend.queues.depth(EVENTS_QUEUE) == 0


NUL_FIELDS: list[tuple[str, dict[str, object]]] = [
    ("id", {"id": "evt\x00"}),
    ("server_id", {"server_id": "s\x00"}),
    ("channel_id", {"channel_id": "c\x00"}),
    ("channel_name", {"channel_name": "lob\x00by"}),
    ("user.id", {"user": {"id": "\x00", "name": "u"}}),
    ("user.name", {"user": {"id": "u", "name": "al\x00ice"}}),
    ("user.display_name", {"user": {"id": "u", "name": "u", "display_name": "\x00"}}),
    ("user.badges.0", {"user": {"id": "u", "name": "u", "badges": ["mod\x00"]}}),
    ("text", {"text": "!ping \x00"}),
    ("thread_id", {"thread_id": "t\x00"}),
    ("reply_to", {"reply_to": "r\x00"}),
    ("data", {"data": {"key\x00": 1}}),
    ("data", {"data": {"nested": [{"deep": "\x00"}]}}),
]


@pytest.mark.parametrize(("field", "extra"), NUL_FIELDS, ids=[f for f, _ in NUL_FIELDS])
async def test_nul_characters_are_refused_at_ingress(
    ingress: Ingress, field: str, extra: dict[str, object]
) -> None:
    """PostgreSQL text cannot hold NUL: refused here with 422 on both stacks, never queued."""
    client, runtime = ingress
    answer = await client.post("/api/router/v1/events", json=[event(0), event(1, **extra)])
    assert answer.status_code == 422, answer.text
    assert [problem["field"] for problem in answer.json()["errors"]] == [f"1.{field}"]
    assert "NUL" in answer.json()["detail"]
    assert await runtime.backend.queues.depth(EVENTS_QUEUE) == 0


async def test_event_data_is_capped_at_64_kib(ingress: Ingress) -> None:
    client, runtime = ingress
    fits = {"blob": "x" * (64 * 1024 - len('{"blob":""}'))}
    accepted = await client.post("/api/router/v1/events", json=event(1, data=fits))
    assert accepted.status_code == 202, accepted.text
    over = {"blob": "x" * (64 * 1024)}
    refused = await client.post("/api/router/v1/events", json=event(2, data=over))
    assert refused.status_code == 422
    message = "Value error, is 65547 bytes as JSON; at most 65536 are allowed"
    assert refused.json()["errors"] == [{"field": "data", "message": message}]
    assert len(refused.content) < 1000  # the 64 KiB are not echoed back
    assert await runtime.backend.queues.depth(EVENTS_QUEUE) == 1


async def test_a_body_over_1_mib_is_413_before_it_is_read(ingress: Ingress) -> None:
    client, runtime = ingress
    batch = [event(n, data={"blob": "x" * 60_000}) for n in range(20)]  # each event fits
    answer = await client.post("/api/router/v1/events", json=batch)
    assert answer.status_code == 413
    assert answer.json() == {"detail": "the request body is larger than 1048576 bytes"}

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: the stream is capped
        yield b"["
        for n in range(40):
            yield (b"," if n else b"") + httpx.Response(200, json=batch[0]).content
        yield b"]"

    chunked = await client.post(
        "/api/router/v1/events", content=streamed(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413
    assert chunked.json() == {"detail": "the request body is larger than 1048576 bytes"}
    assert await runtime.backend.queues.depth(EVENTS_QUEUE) == 0


@pytest.mark.parametrize(
    "payload",
    [
        b'{"id": "x", "platform": "playground", "server_id": "s", "channel_id": NaN}',
        b'{"id": "x", "platform": "playground", "server_id": "s", "channel_id": Infinity}',
        b'{"id": "x", "platform": "playground", "server_id": "s", "channel_id": 1e999}',
        b'{"id": "x", "platform": "playground", "server_id": "s", "channel_id": "\\ud800"}',
        b'{"platform": "playground", "server_id": "s", "channel_id": "c", "data": {"n": NaN}}',
        b'{"platform": "playground", "server_id": "s", "channel_id": "c", "text": "\\udfff"}',
    ],
)
async def test_unserialisable_values_are_422_not_500(ingress: Ingress, payload: bytes) -> None:
    client, runtime = ingress
    answer = await client.post(
        "/api/router/v1/events", content=payload, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"]
    assert await runtime.backend.queues.depth(EVENTS_QUEUE) == 0


@pytest.mark.parametrize(
    "payload", [b"not json", b'"a string"', b"42", b"[]", b'{"platform": "twitch"}']
)
async def test_malformed_bodies_are_422(ingress: Ingress, payload: bytes) -> None:
    client, runtime = ingress
    answer = await client.post(
        "/api/router/v1/events", content=payload, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]
    assert await runtime.backend.queues.depth(EVENTS_QUEUE) == 0


async def test_full_queue_answers_429_and_keeps_nothing(ingress: Ingress) -> None:
    client, runtime = ingress
    assert (
        await client.post("/api/router/v1/events", json=[event(n) for n in range(100)])
    ).status_code == 202
    answer = await client.post("/api/router/v1/events", json=[event(n) for n in range(51)])
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "1"
    assert await runtime.backend.queues.depth(EVENTS_QUEUE) == 100
    assert (
        await client.post("/api/router/v1/events", json=[event(n) for n in range(50)])
    ).status_code == 202


async def test_ingress_requires_a_credential(ingress: Ingress) -> None:
    client, runtime = ingress
    anonymous = await client.post(
        "/api/router/v1/events", json=event(), headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401
    forged = await client.post(
        "/api/router/v1/events",
        json=event(),
        headers={"Authorization": "Bearer " + service_token("wrong-secret", "test")},
    )
    assert forged.status_code == 401
    key, _ = await create_api_key(runtime.db, name="reader", scopes=["something:else"])
    wrong_scope = await client.post(
        "/api/router/v1/events", json=event(), headers={"Authorization": "", "X-API-Key": key}
    )
    assert wrong_scope.status_code == 403
    key, _ = await create_api_key(runtime.db, name="collector", scopes=["events:write"])
    allowed = await client.post(
        "/api/router/v1/events", json=event(), headers={"Authorization": f"Bearer {key}"}
    )
    assert allowed.status_code == 202
    assert await runtime.backend.queues.depth(EVENTS_QUEUE) == 1
