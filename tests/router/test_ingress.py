"""Router ingress in isolation (no workers draining the queue), on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support import IngressOnly, live_server
from waddlebot.app import create_app
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.security.api_keys import create_api_key
from waddlebot.kernel.security.service_tokens import service_token
from waddlebot.kernel.settings import Settings
from waddlebot.router.worker import EVENTS_QUEUE

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
    body = answer.json()["detail"]
    assert any("platform" in item["loc"] for item in body)
    assert any("unknown_field" in item["loc"] for item in body)
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
