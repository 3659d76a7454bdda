"""A fake Slack at its HTTP boundary: the Web API methods WaddleBot calls, response_url
hooks and OAuth; records every request and can answer 429 with Retry-After."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-A0001-1-test"


@dataclass
class Call:
    path: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass
class FakeSlack:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    usergroups: list[dict[str, Any]] = field(default_factory=list)
    throttle: dict[str, list[float]] = field(default_factory=dict)
    refuse: dict[str, str] = field(default_factory=dict)  # method → Slack error code
    calls: list[Call] = field(default_factory=list)
    url: str = ""
    socket_url: str = ""  # what apps.connections.open hands out (a FakeSocketMode)
    app_token: str = APP_TOKEN

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/api/{method}", methods=["GET", "POST"])
        async def method(method: str, request: Request) -> Response:
            args = await _arguments(request)
            self.calls.append(Call(method, args, dict(request.headers), time.monotonic()))
            if method == "apps.connections.open" and (
                request.headers.get("authorization") != f"Bearer {self.app_token}"
            ):
                return JSONResponse({"ok": False, "error": "invalid_auth"})
            if method in self.refuse:
                return JSONResponse({"ok": False, "error": self.refuse[method]})
            pending = self.throttle.get(method)
            if pending:
                return JSONResponse(
                    {"ok": False, "error": "ratelimited"},
                    429,
                    headers={"Retry-After": f"{pending.pop(0):g}"},
                )
            return JSONResponse(self._answer(method, args))

        @app.post("/hooks/{hook}")
        async def hook(hook: str, request: Request) -> Response:
            args = await _arguments(request)
            self.calls.append(Call(f"hooks/{hook}", args, dict(request.headers), time.monotonic()))
            return PlainTextResponse("ok")

        return app

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "chat.postMessage":
            return {"ok": True, "channel": args.get("channel"), "ts": f"{time.time():.6f}"}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url}
        if method == "users.info":
            user = self.users.get(str(args.get("user")))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": user}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users"))}}
        if method == "usergroups.list":
            return {"ok": True, "usergroups": self.usergroups}
        if method == "oauth.v2.access":
            if args.get("code") != "good-code":
                return {"ok": False, "error": "invalid_code"}
            return {
                "ok": True,
                "access_token": "xoxb-installed-token",
                "token_type": "bot",
                "scope": "chat:write,commands",
                "bot_user_id": "U0INSTALLED",
                "app_id": "A0001",
                "team": {"id": "T0INSTALL", "name": "Installed <Team>"},
            }
        return {"ok": False, "error": "unknown_method"}

    def of(self, path: str) -> list[Call]:
        return [call for call in self.calls if call.path == path]

    async def wait_for(self, path: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while len(self.of(path)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} {path} calls, got {self.calls}")
            await asyncio.sleep(0.02)
        return self.of(path)


async def _arguments(request: Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if body:
        if request.headers.get("content-type", "").startswith("application/json"):
            args.update(json.loads(body))
        else:
            args.update(parse_qsl(body.decode()))
    return args


def signed_headers(
    body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Headers exactly as Slack sends them: v0 HMAC-SHA256 over ``v0:{ts}:{body}``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def envelope(
    event: dict[str, Any], *, event_id: str, team: str = "T0001", bot_user: str = "U0BOT"
) -> bytes:
    return json.dumps(
        {
            "token": "XXYYZZ",
            "team_id": team,
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {"team_id": team, "user_id": bot_user, "is_bot": True, "enterprise_id": None}
            ],
            "event": event,
        }
    ).encode()


def message(
    text: str, *, user: str = "U061F7AUR", ts: str = "1709294096.000300", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": "C0LAN2Q65",
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
        **extra,
    }


def slash_form(
    text: str, *, response_url: str, user: str = "U061F7AUR", trigger: str = "t1"
) -> bytes:
    return urlencode(
        {
            "token": "gIkuvaNzQIHg97ATvDxqgjtO",
            "team_id": "T0001",
            "team_domain": "example",
            "channel_id": "C0LAN2Q65",
            "channel_name": "general",
            "user_id": user,
            "user_name": "viewer",
            "command": "/waddlebot",
            "text": text,
            "response_url": response_url,
            "trigger_id": trigger,
            "api_app_id": "A0001",
        }
    ).encode()
