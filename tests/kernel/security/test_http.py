"""``require_scope`` over real HTTP semantics (httpx ASGI transport) with a real Runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI

from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.security.api_keys import (
    ADMIN_SCOPE,
    Principal,
    create_api_key,
    revoke_api_key,
)
from waddlebot.kernel.security.http import require_scope
from waddlebot.kernel.security.service_tokens import service_token
from waddlebot.kernel.settings import Settings

SECRET = "http-test-secret"


def tiny_app(runtime: Runtime) -> FastAPI:
    app = FastAPI()
    app.state.runtime = runtime

    @app.get("/read")
    async def read(principal: Principal = Depends(require_scope("things:read"))) -> dict[str, str]:
        return {"name": principal.name, "kind": principal.kind}

    @app.get("/write")
    async def write(
        principal: Principal = Depends(require_scope("things:write")),
    ) -> dict[str, str]:
        return {"name": principal.name, "kind": principal.kind}

    return app


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """A runtime on SQLite: keys are checked on both engines in test_api_keys.py."""
    settings = Settings(data_dir=tmp_path / "data", secret_key=SECRET)
    opened = await Runtime.open(settings)
    await opened.db.migrate()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=tiny_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_missing_or_invalid_key_is_401_with_www_authenticate(
    client: httpx.AsyncClient,
) -> None:
    for headers in [
        {},
        {"X-API-Key": "wbk_nothing_here"},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
    ]:
        answer = await client.get("/read", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["www-authenticate"] == "Bearer"
        assert "API key" in answer.json()["detail"]


async def test_key_without_the_scope_is_403(client: httpx.AsyncClient, runtime: Runtime) -> None:
    key, _ = await create_api_key(runtime.db, name="reader", scopes=["things:read"])
    answer = await client.get("/write", headers={"X-API-Key": key})
    assert answer.status_code == 403
    assert "things:write" in answer.json()["detail"]
    assert "www-authenticate" not in answer.headers


async def test_key_with_the_scope_is_admitted_by_either_header(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    key, _ = await create_api_key(runtime.db, name="reader", scopes=["things:read"])
    for headers in [
        {"X-API-Key": key},
        {"Authorization": f"Bearer {key}"},
        {"Authorization": f"bearer {key}"},
        {"Authorization": f"Bearer   {key}  "},
    ]:
        answer = await client.get("/read", headers=headers)
        assert answer.status_code == 200, headers
        assert answer.json() == {"name": "reader", "kind": "api_key"}


async def test_bearer_wins_over_x_api_key(client: httpx.AsyncClient, runtime: Runtime) -> None:
    reader, _ = await create_api_key(runtime.db, name="reader", scopes=["things:read"])
    writer, _ = await create_api_key(runtime.db, name="writer", scopes=["things:write"])
    answer = await client.get(
        "/write", headers={"Authorization": f"Bearer {reader}", "X-API-Key": writer}
    )
    assert answer.status_code == 403


async def test_admin_key_passes_every_scope(client: httpx.AsyncClient, runtime: Runtime) -> None:
    key, _ = await create_api_key(runtime.db, name="root", scopes=[ADMIN_SCOPE])
    for path in ("/read", "/write"):
        answer = await client.get(path, headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200
        assert answer.json()["name"] == "root"


async def test_revoked_key_is_401_at_once(client: httpx.AsyncClient, runtime: Runtime) -> None:
    key, row = await create_api_key(runtime.db, name="reader", scopes=["things:read"])
    assert (await client.get("/read", headers={"X-API-Key": key})).status_code == 200
    assert (await client.get("/read", headers={"X-API-Key": key})).status_code == 200  # cached
    assert await revoke_api_key(runtime.db, row.id, keys=runtime.keys)
    assert (await client.get("/read", headers={"X-API-Key": key})).status_code == 401


async def test_service_token_under_this_secret_is_a_trusted_service(
    client: httpx.AsyncClient,
) -> None:
    token = service_token(SECRET, "router")
    answer = await client.get("/write", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.json() == {"name": "router", "kind": "service"}

    foreign = service_token("some-other-installation", "router")
    answer = await client.get("/write", headers={"Authorization": f"Bearer {foreign}"})
    assert answer.status_code == 401
