"""A fake Discord REST API at its HTTP boundary: records requests, answers like Discord
(including 429 with retry_after and X-RateLimit-* headers)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from nacl.signing import SigningKey

APPLICATION_ID = "1100000000000000001"
GUILD_ID = "290926798626357250"
CHANNEL_ID = "645027906669510667"
USER_ID = "53908232506183680"
BOT_TOKEN = "test-bot-token"


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

        return app

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
