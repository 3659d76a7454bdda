"""The playground over one WebSocket, on real loopback sockets and both stacks: many
messages in flight on one connection, each answer tagged with its frame's id; bad frames get
a 422-style error frame and the socket stays open; only operators' keys open it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.support import LiveServer, bearer, build_app, live_server
from waddlebot.accounts.manager import create_user
from waddlebot.kernel.security.api_keys import ADMIN_SCOPE, create_api_key
from waddlebot.kernel.security.sessions import COOKIE_NAME, SessionStore
from waddlebot.kernel.settings import Settings

PATH = "/api/playground/v1/socket"
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def bot(stack_settings: Settings) -> AsyncIterator[LiveServer]:
    async with live_server(build_app(stack_settings)) as server:
        yield server


def socket_url(bot: LiveServer) -> str:
    return bot.url.replace("http://", "ws://") + PATH


async def answers(socket: ClientConnection, count: int) -> dict[str | None, dict[str, Any]]:
    """The next ``count`` answers by frame id (bounded: a missing answer fails the test)."""
    found: dict[str | None, dict[str, Any]] = {}
    async with asyncio.timeout(20):
        for _ in range(count):
            frame = json.loads(await socket.recv())
            found[frame["id"]] = frame  # frames without a usable id share the key None
    return found


async def test_many_messages_in_flight_on_one_socket(bot: LiveServer) -> None:
    async with connect(socket_url(bot), additional_headers=bot.operator) as socket:
        for n in range(30):
            frame = {"id": f"m{n}", "user": f"viewer{n % 5}", "text": "!ping"}
            await socket.send(json.dumps(frame))  # all sent before any answer is read
        await socket.send(json.dumps({"id": "chat", "text": "just chatting"}))
        got = await answers(socket, 31)
    for n in range(30):
        result = got[f"m{n}"]["result"]
        assert result["status"] == "ok" and result["replies"] == [{"type": "chat", "text": "pong"}]
        assert got[f"m{n}"]["error"] is None
    assert got["chat"]["result"]["replies"] == []


async def test_roles_and_channels_as_over_http(bot: LiveServer) -> None:
    async with connect(socket_url(bot), additional_headers=bot.operator) as socket:
        await socket.send(json.dumps({"id": "a", "text": "!help", "role": "moderator"}))
        [moderator] = (await answers(socket, 1))["a"]["result"]["replies"]
        await socket.send(json.dumps({"id": "b", "text": "!help", "channel": "elsewhere"}))
        [everyone] = (await answers(socket, 1))["b"]["result"]["replies"]
    assert "!modonly" in moderator["text"] and "!modonly" not in everyone["text"]


async def test_bad_frames_get_an_error_and_the_socket_stays_open(bot: LiveServer) -> None:
    async with connect(socket_url(bot), additional_headers=bot.operator) as socket:
        await socket.send(json.dumps({"id": "empty", "text": ""}))
        await socket.send(json.dumps({"id": "extra", "text": "!ping", "admin": True}))
        await socket.send(json.dumps({"id": "role", "text": "!ping", "role": "emperor"}))
        await socket.send("not json at all")
        await socket.send(json.dumps(["a", "list"]))
        await socket.send(json.dumps({"id": "bytes", "text": "!ping"}).encode())
        got = await answers(socket, 6)
    for bad in ("empty", "extra", "role"):
        assert got[bad]["result"] is None
        assert got[bad]["error"]["status"] == 422, got[bad]
    assert got["empty"]["error"]["detail"].startswith("text:")
    assert got["extra"]["error"]["detail"].startswith("admin:")
    assert got[None]["error"]["status"] == 422  # both id-less frames answered with id None
    assert got["bytes"]["result"]["replies"] == [{"type": "chat", "text": "pong"}]


async def refused(url: str, headers: dict[str, str]) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as refusal:
        async with connect(url, additional_headers=headers, open_timeout=5):
            pass
    response = refusal.value.response
    return response.status_code, json.loads(response.body or b"{}").get("detail", "")


async def test_only_operators_open_it(bot: LiveServer) -> None:
    url = socket_url(bot)
    status, detail = await refused(url, {})
    assert status == 401 and "Authorization: Bearer" in detail
    assert (await refused(url, bearer("wb_not-a-real-key")))[0] == 401
    db = bot.app.state.runtime.db
    reader, _ = await create_api_key(db, name="reader", scopes=["identity:manage"])
    status, detail = await refused(url, bearer(reader))
    assert status == 403 and ADMIN_SCOPE in detail
    admin, _ = await create_api_key(db, name="admin", scopes=[ADMIN_SCOPE])
    async with connect(url, additional_headers=bearer(admin)) as socket:
        await socket.send(json.dumps({"id": "k", "text": "!ping"}))
        assert (await answers(socket, 1))["k"]["result"]["status"] == "ok"


async def test_a_login_cookie_does_not_open_it(bot: LiveServer) -> None:
    """A browser sends its cookies with any page's WebSocket handshake: only a presented
    key counts, so another site's page cannot chat as the logged-in superuser."""
    runtime = bot.app.state.runtime
    root = await create_user(
        runtime.db, email="root@example.com", password=PASSWORD, superuser=True
    )
    token = await SessionStore(runtime.backend.kv, ttl=600).create(root.id, method="password")
    cookie = {"Cookie": f"{COOKIE_NAME}={token}"}
    playground = "/api/playground/v1/messages"
    over_http = await bot.client.post(playground, json={"text": "!ping"}, headers=cookie)
    assert over_http.status_code == 200  # the session is good: the page itself may use it
    status, _ = await refused(socket_url(bot), cookie)
    assert status == 401


async def test_switched_off_with_the_playground(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"playground": "off"})
    async with live_server(build_app(settings)) as bot:
        assert (await refused(socket_url(bot), bot.operator))[0] == 404
