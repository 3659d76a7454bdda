"""A fake Discord at its HTTP and WebSocket boundary: the REST API records requests and answers
like Discord (including 429 with retry_after and X-RateLimit-* headers); ``GET /gateway/bot``
recommends shards; a minimal gateway WebSocket (HELLO, IDENTIFY → READY, RESUME → RESUMED,
heartbeat ACK) records every IDENTIFY with its ``shard`` and when it came."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from nacl.signing import SigningKey

APPLICATION_ID = "1100000000000000001"
GUILD_ID = "290926798626357250"
CHANNEL_ID = "645027906669510667"
USER_ID = "53908232506183680"
BOT_TOKEN = "test-bot-token"
BOT_USER_ID = "1100000000000000002"


@dataclass
class Identify:
    shard: tuple[int, int] | None
    token: str
    at: float  # time.monotonic()


@dataclass
class GatewaySession:
    """One gateway WebSocket; ``shard`` once it identified, ``open`` until it closes."""

    shard: tuple[int, int] | None = None
    open: bool = True


@dataclass
class Call:
    method: str
    path: str
    body: Any
    headers: dict[str, str]
    at: float


@dataclass
class FakeDiscord:
    calls: list[Call] = field(default_factory=list)
    throttle: list[dict[str, Any]] = field(default_factory=list)  # 429 bodies to answer first
    url: str = ""
    exhausted: bool = False  # answer X-RateLimit-Remaining: 0 (bucket empty for 1 s)
    recommended_shards: int = 1  # GET /gateway/bot "shards"
    max_concurrency: int = 1  # GET /gateway/bot "session_start_limit.max_concurrency"
    identifies: list[Identify] = field(default_factory=list)
    sessions: list[GatewaySession] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(900000000000000000))

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/api/v10/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        async def any_route(path: str, request: Request) -> Response:
            raw = await request.body()
            body = json.loads(raw) if raw else None
            self.calls.append(
                Call(request.method, "/" + path, body, dict(request.headers), time.monotonic())
            )
            if self.throttle:
                limited = self.throttle.pop(0)
                return JSONResponse(
                    limited,
                    429,
                    headers={
                        "Retry-After": f"{limited['retry_after']:g}",
                        "X-RateLimit-Scope": "global" if limited.get("global") else "user",
                        **({"X-RateLimit-Global": "true"} if limited.get("global") else {}),
                    },
                )
            headers = {
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0" if self.exhausted else "4",
                "X-RateLimit-Reset-After": "1.0",
                "X-RateLimit-Bucket": "abc",
            }
            if request.method == "GET" and path in ("gateway", "gateway/bot", "users/@me"):
                return JSONResponse(self._get(path))
            if path == "soundboard-default-sounds":  # py-cord asks after every READY
                return JSONResponse([])
            if path == "nowhere":
                return JSONResponse({"message": "404: Not Found", "code": 0}, 404)
            if path == "users/@me/channels":
                return JSONResponse(
                    {"id": "7" + body["recipient_id"][1:], "type": 1}, headers=headers
                )
            if path.endswith("/commands") and request.method == "PUT":
                return JSONResponse(body, headers=headers)
            message = {"id": str(next(self._ids)), "content": (body or {}).get("content")}
            return JSONResponse(message, headers=headers)

        @app.websocket("/gateway-ws")
        async def gateway(socket: WebSocket) -> None:
            await socket.accept()
            session = GatewaySession()
            self.sessions.append(session)
            await socket.send_json({"op": 10, "d": {"heartbeat_interval": 41250}})
            try:
                while True:
                    await self._gateway_frame(socket, session, await socket.receive_json())
            except WebSocketDisconnect:
                pass
            finally:
                session.open = False

        return app

    @property
    def gateway_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/gateway-ws"

    def _get(self, path: str) -> dict[str, Any]:
        if path == "gateway":
            return {"url": self.gateway_url}
        if path == "gateway/bot":
            return {
                "url": self.gateway_url,
                "shards": self.recommended_shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000 - len(self.identifies),
                    "reset_after": 86_400_000,
                    "max_concurrency": self.max_concurrency,
                },
            }
        return {**self._bot_user(), "verified": True, "mfa_enabled": False, "flags": 0}

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_USER_ID,
            "username": "waddlebot",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
        }

    async def _gateway_frame(
        self, socket: WebSocket, session: GatewaySession, frame: dict[str, Any]
    ) -> None:
        op, data = frame.get("op"), frame.get("d")
        if op == 1:  # heartbeat
            await socket.send_json({"op": 11})
        elif op == 2:  # identify
            shard = data.get("shard")
            session.shard = (int(shard[0]), int(shard[1])) if shard else None
            self.identifies.append(Identify(session.shard, data["token"], time.monotonic()))
            ready = {
                "v": 10,
                "user": self._bot_user(),
                "guilds": [],
                "session_id": f"session-{len(self.identifies)}",
                "resume_gateway_url": self.gateway_url,
                "application": {"id": APPLICATION_ID, "flags": 0},
                **({"shard": list(session.shard)} if session.shard else {}),
            }
            await socket.send_json({"op": 0, "t": "READY", "s": 1, "d": ready})
        elif op == 6:  # resume
            await socket.send_json({"op": 0, "t": "RESUMED", "s": data.get("seq"), "d": {}})

    def live_shards(self) -> list[tuple[int, int] | None]:
        """The shard of every open, identified gateway session, sorted."""
        return sorted(
            (s.shard for s in self.sessions if s.open and s.shard),
            key=lambda shard: shard or (-1, -1),
        )

    async def wait_until(self, check: Any, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out; identifies={self.identifies} live={self.live_shards()}"
                )
            await asyncio.sleep(0.05)

    def of(self, prefix: str) -> list[Call]:
        return [call for call in self.calls if call.path.startswith(prefix)]

    async def wait_for(self, prefix: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while len(self.of(prefix)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} calls to {prefix}, got {self.calls}")
            await asyncio.sleep(0.02)
        return self.of(prefix)


def signed(key: SigningKey, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers exactly as Discord sends them: Ed25519 over ``timestamp + body``, hex."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(ts.encode() + body).signature.hex()
    return {
        "X-Signature-Ed25519": signature,
        "X-Signature-Timestamp": ts,
        "content-type": "application/json",
    }


def command_interaction(
    name: str,
    *,
    args: str | None = None,
    interaction_id: str = "1213456789012345678",
    permissions: str = "0",
) -> bytes:
    options = [{"name": "args", "type": 3, "value": args}] if args is not None else []
    return json.dumps(
        {
            "id": interaction_id,
            "application_id": APPLICATION_ID,
            "type": 2,
            "token": "aW50ZXJhY3Rpb24tdG9rZW4",
            "version": 1,
            "guild_id": GUILD_ID,
            "channel_id": CHANNEL_ID,
            "member": {
                "user": {
                    "id": USER_ID,
                    "username": "viewer",
                    "global_name": "Viewer",
                    "avatar": None,
                },
                "roles": [],
                "permissions": permissions,
                "nick": None,
                "joined_at": "2023-01-01T00:00:00+00:00",
            },
            "app_permissions": "442368",
            "locale": "en-US",
            "data": {"id": "1200000000000000009", "name": name, "type": 1, "options": options},
        }
    ).encode()
