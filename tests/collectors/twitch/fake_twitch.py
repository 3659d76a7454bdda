"""A fake Twitch (Helix + OAuth) on loopback: the only thing our Twitch tests fake.

It checks credentials like Twitch does (Client-Id must match, tokens must be live), records
every request, keeps EventSub subscriptions, and answers scripted failures on demand
(``fail(path, 429, headers={"Ratelimit-Reset": …})``, 5xx, …). With a ``FakeEventSub``
attached (``eventsub``) it also takes WebSocket and conduit subscriptions and the conduit
endpoints, and delivers notifications for them over the fake sockets (``notify``, ``revoke``).
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.collectors.twitch.fake_eventsub import FakeEventSub

CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
BOT = {"id": "2914196", "login": "botuser", "display_name": "BotUser"}
STREAMER = {"id": "1971641", "login": "streamer", "display_name": "Streamer"}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float
    status: int = 0


@dataclass
class Failure:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeTwitch:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    failures: dict[str, deque[Failure]] = field(default_factory=dict)
    app_tokens: set[str] = field(default_factory=set)
    user_tokens: dict[str, tuple[dict[str, str], float]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    users: dict[str, dict[str, str]] = field(
        default_factory=lambda: {u["login"]: dict(u) for u in (BOT, STREAMER)}
    )
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    clips: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    user_token_ttl: int = 14_400
    drop_reason: dict[str, str] | None = None
    page_size: int = 4
    # Device code login: what each poll answers before approval ("authorization_pending",
    # "slow_down", "access_denied", "expired_token"), then the user it approves as.
    device_script: list[str] = field(default_factory=list)
    device_user: dict[str, str] = field(default_factory=lambda: dict(BOT))
    device_interval: float = 0.2
    device_expires_in: int = 1800
    device_codes: dict[str, deque[str]] = field(default_factory=dict)
    # EventSub over WebSocket and conduits (see fake_eventsub.py).
    eventsub: FakeEventSub | None = None
    owners: dict[str, str] = field(default_factory=dict)  # websocket subscription → user id
    conduits: dict[str, dict[str, Any]] = field(default_factory=dict)
    shards: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    websocket_cap: int = 300
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    # ---- scripting -------------------------------------------------------------------
    def fail(
        self,
        path: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        message: str = "scripted failure",
        method: str | None = None,
        skip: int = 0,
    ) -> None:
        """Let ``skip`` requests to ``path`` (of ``method``) through, then answer the next
        ``times`` with ``status``."""
        queue = self.failures.setdefault(f"{method} {path}" if method else path, deque())
        queue.extend(Failure(0, {}, {}) for _ in range(skip))
        for _ in range(times):
            queue.append(Failure(status, headers or {}, {"message": message}))

    def expire_app_tokens(self) -> None:
        self.app_tokens.clear()

    def grant_code(self, code: str, user: dict[str, str] = BOT) -> None:
        self.codes[code] = dict(user)

    def add_streamer(
        self,
        login: str,
        *,
        user_id: str,
        game: str = "",
        title: str = "",
        clips: tuple[tuple[str, int, int], ...] = (),
    ) -> dict[str, str]:
        """A Twitch user with a profile image, a channel (last game, title) and clips given
        as ``(clip id, view count, days ago)``."""
        user = {
            "id": user_id,
            "login": login,
            "display_name": login.capitalize(),
            "profile_image_url": f"https://static-cdn.jtvnw.net/user-{login}-300x300.png",
        }
        self.users[login] = user
        self.channels[user_id] = {
            "broadcaster_id": user_id,
            "broadcaster_login": login,
            "broadcaster_name": user["display_name"],
            "game_name": game,
            "title": title,
        }
        now = time.time()
        self.clips[user_id] = [
            {
                "id": clip_id,
                "url": f"https://clips.twitch.tv/{clip_id}",
                "embed_url": f"https://clips.twitch.tv/embed?clip={clip_id}",
                "broadcaster_id": user_id,
                "title": f"clip {clip_id}",
                "view_count": views,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - days * 86_400)),
                "thumbnail_url": f"https://clips-media-assets2.twitch.tv/{clip_id}-preview.jpg",
            }
            for clip_id, views, days in clips
        ]
        return user

    @property
    def shoutouts(self) -> list[Recorded]:
        """Native shoutouts Helix accepted."""
        return [r for r in self.calls("POST", "/helix/chat/shoutouts") if r.status == 204]

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    @property
    def chat(self) -> list[Recorded]:
        return self.calls("POST", "/helix/chat/messages")

    def chat_texts(self) -> list[str]:
        """Texts of the chat messages Helix accepted (refused attempts left out)."""
        return [r.body["message"] for r in self.chat if r.body and 200 <= r.status < 300]

    def _next(self, prefix: str) -> str:
        return f"{prefix}-{next(self._counter)}-{uuid.uuid4().hex[:6]}"

    # ---- the ASGI app ----------------------------------------------------------------
    def app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def record(request: Request, call_next: Any) -> Response:
            raw = await request.body()
            body: Any = None
            if raw:
                if request.headers.get("content-type", "").startswith("application/json"):
                    body = json.loads(raw)
                else:
                    body = dict(parse_qsl(raw.decode()))
            recorded = Recorded(
                request.method,
                request.url.path,
                dict(request.query_params),
                {k.lower(): v for k, v in request.headers.items()},
                body,
                time.monotonic(),
            )
            self.requests.append(recorded)
            path = request.url.path
            queue = self.failures.get(f"{request.method} {path}") or self.failures.get(path)
            failure = queue.popleft() if queue else None
            if failure is not None and failure.status:
                recorded.status = failure.status
                return JSONResponse(failure.body, failure.status, headers=failure.headers)
            response: Response = await call_next(request)
            recorded.status = response.status_code
            return response

        self._oauth_routes(app)
        self._helix_routes(app)
        return app

    def _oauth_routes(self, app: FastAPI) -> None:
        @app.post("/oauth2/device")
        async def device(request: Request) -> JSONResponse:
            form = dict(parse_qsl((await request.body()).decode()))
            if form.get("client_id") != CLIENT_ID:
                return JSONResponse({"status": 400, "message": "invalid client"}, 400)
            if not form.get("scopes"):
                return JSONResponse({"status": 400, "message": "missing scopes"}, 400)
            code, user_code = self._next("device"), f"WADD-{next(self._counter):04d}"
            self.device_codes[code] = deque(self.device_script)
            return JSONResponse(
                {
                    "device_code": code,
                    "expires_in": self.device_expires_in,
                    "interval": self.device_interval,
                    "user_code": user_code,
                    "verification_uri": (
                        f"https://www.twitch.tv/activate?public=true&device-code={user_code}"
                    ),
                }
            )

        @app.post("/oauth2/token")
        async def token(request: Request) -> JSONResponse:
            form = dict(parse_qsl((await request.body()).decode()))
            grant = form.get("grant_type")
            public = grant in (DEVICE_GRANT, "refresh_token") and "client_secret" not in form
            if form.get("client_id") != CLIENT_ID or (
                form.get("client_secret") != CLIENT_SECRET and not public
            ):
                return JSONResponse({"status": 403, "message": "invalid client secret"}, 403)
            if grant == DEVICE_GRANT:
                return self._device_grant(str(form.get("device_code")))
            if grant == "client_credentials":
                token = self._next("app")
                self.app_tokens.add(token)
                return JSONResponse(
                    {"access_token": token, "expires_in": 5011271, "token_type": "bearer"}
                )
            if grant == "authorization_code":
                user = self.codes.pop(str(form.get("code")), None)
                if user is None:
                    return JSONResponse(
                        {"status": 400, "message": "Invalid authorization code"}, 400
                    )
                return self._user_grant(user)
            if grant == "refresh_token":
                user = self.refresh_tokens.pop(str(form.get("refresh_token")), None)
                if user is None:
                    return JSONResponse({"status": 400, "message": "Invalid refresh token"}, 400)
                return self._user_grant(user)
            return JSONResponse({"status": 400, "message": "unsupported grant"}, 400)

        @app.get("/oauth2/validate")
        async def validate(request: Request) -> JSONResponse:
            token = request.headers.get("authorization", "").removeprefix("OAuth ")
            live = self.user_tokens.get(token)
            if live is None or live[1] < time.time():
                return JSONResponse({"status": 401, "message": "invalid access token"}, 401)
            user = live[0]
            return JSONResponse(
                {
                    "client_id": CLIENT_ID,
                    "login": user["login"],
                    "user_id": user["id"],
                    "scopes": ["user:write:chat"],
                    "expires_in": int(live[1] - time.time()),
                }
            )

    def _device_grant(self, code: str) -> JSONResponse:
        script = self.device_codes.get(code)
        if script is None:
            return JSONResponse({"status": 400, "message": "invalid device code"}, 400)
        if script:
            return JSONResponse({"status": 400, "message": script.popleft()}, 400)
        del self.device_codes[code]
        return self._user_grant(self.device_user)

    def _user_grant(self, user: dict[str, str]) -> JSONResponse:
        access, refresh = self._next("user"), self._next("refresh")
        self.user_tokens[access] = (user, time.time() + self.user_token_ttl)
        self.refresh_tokens[refresh] = user
        return JSONResponse(
            {
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": self.user_token_ttl,
                "scope": ["user:read:chat", "user:write:chat"],
                "token_type": "bearer",
            }
        )

    def _caller(self, request: Request, *, app_only: bool = False) -> str | None:
        """The kind of a valid bearer token ("app" / user id), None when refused."""
        if request.headers.get("client-id") != CLIENT_ID:
            return None
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token in self.app_tokens:
            return "app"
        live = self.user_tokens.get(token)
        if live is None or live[1] < time.time() or app_only:
            return None
        return live[0]["id"]

    def _helix_routes(self, app: FastAPI) -> None:
        unauthorised = JSONResponse({"status": 401, "message": "Invalid OAuth token"}, 401)

        @app.get("/helix/users")
        async def users(request: Request) -> JSONResponse:
            if self._caller(request) is None:
                return unauthorised
            logins = request.query_params.getlist("login")
            data = [self.users[login] for login in logins if login in self.users]
            return JSONResponse({"data": data})

        @app.post("/helix/chat/messages")
        async def chat(request: Request) -> JSONResponse:
            caller = self._caller(request)
            if caller is None:
                return unauthorised
            body = await request.json()
            if len(body.get("message", "")) > 500:
                return JSONResponse({"status": 400, "message": "message too long"}, 400)
            if caller != "app" and caller != body.get("sender_id"):
                return JSONResponse({"status": 403, "message": "sender_id mismatch"}, 403)
            sent = self.drop_reason is None
            return JSONResponse(
                {
                    "data": [
                        {
                            "message_id": self._next("msg"),
                            "is_sent": sent,
                            "drop_reason": self.drop_reason,
                        }
                    ]
                }
            )

        @app.get("/helix/channels")
        async def channels(request: Request) -> JSONResponse:
            if self._caller(request) is None:
                return unauthorised
            ids = request.query_params.getlist("broadcaster_id")
            return JSONResponse({"data": [self.channels[i] for i in ids if i in self.channels]})

        @app.get("/helix/clips")
        async def clips(request: Request) -> JSONResponse:
            if self._caller(request) is None:
                return unauthorised
            query = request.query_params
            found = list(self.clips.get(query.get("broadcaster_id", ""), []))
            since = query.get("started_at")
            if since:  # same format both sides, so text order is time order
                found = [clip for clip in found if clip["created_at"] >= since]
            found.sort(key=lambda clip: int(clip["view_count"]), reverse=True)
            first = int(query.get("first") or 20)
            return JSONResponse({"data": found[:first], "pagination": {}})

        @app.post("/helix/chat/shoutouts")
        async def shoutouts(request: Request) -> Response:
            caller = self._caller(request)
            if caller is None or caller == "app":
                return unauthorised
            query = request.query_params
            if caller != query.get("moderator_id"):
                return JSONResponse({"status": 403, "message": "moderator_id mismatch"}, 403)
            if query.get("from_broadcaster_id") == query.get("to_broadcaster_id"):
                return JSONResponse({"status": 400, "message": "cannot shout out self"}, 400)
            return Response(status_code=204)

        @app.post("/helix/whispers")
        async def whispers(request: Request) -> Response:
            caller = self._caller(request)
            if caller is None or caller == "app":
                return unauthorised
            if caller != request.query_params.get("from_user_id"):
                return JSONResponse({"status": 403, "message": "from_user_id mismatch"}, 403)
            return Response(status_code=204)

        @app.get("/helix/eventsub/subscriptions")
        async def list_subscriptions(request: Request) -> JSONResponse:
            caller = self._caller(request)
            if caller is None:
                return unauthorised
            items = [
                item
                for item in self.subscriptions.values()
                if (item["transport"]["method"] == "websocket") == (caller != "app")
                and (caller == "app" or self.owners.get(item["id"]) == caller)
            ]
            start = int(request.query_params.get("after") or 0)
            page = items[start : start + self.page_size]
            more = start + self.page_size < len(items)
            return JSONResponse(
                {
                    "data": page,
                    "total": len(items),
                    "pagination": {"cursor": str(start + self.page_size)} if more else {},
                }
            )

        @app.post("/helix/eventsub/subscriptions")
        async def create_subscription(request: Request) -> JSONResponse:
            caller = self._caller(request)
            if caller is None:
                return unauthorised
            body = await request.json()
            made = self._transport(caller, body["transport"])
            if isinstance(made, JSONResponse):
                return made
            for existing in self.subscriptions.values():
                if (
                    existing["type"] == body["type"]
                    and existing["condition"] == body["condition"]
                    and self._live(existing)
                ):
                    return JSONResponse({"status": 409, "message": "subscription exists"}, 409)
            subscription = {
                "id": str(uuid.uuid4()),
                "status": (
                    "webhook_callback_verification_pending"
                    if made["method"] == "webhook"
                    else "enabled"
                ),
                "type": body["type"],
                "version": body["version"],
                "condition": body["condition"],
                "transport": made,
                "created_at": "2024-03-01T12:00:00.000000000Z",
                "cost": 0,
            }
            self.subscriptions[subscription["id"]] = subscription
            if made["method"] == "websocket":
                self.owners[subscription["id"]] = caller
            return JSONResponse({"data": [subscription], "total": len(self.subscriptions)}, 202)

        @app.delete("/helix/eventsub/subscriptions")
        async def delete_subscription(request: Request) -> Response:
            caller = self._caller(request)
            if caller is None:
                return unauthorised
            found = self.subscriptions.get(request.query_params.get("id", ""))
            if found is None or (found["transport"]["method"] == "websocket") != (caller != "app"):
                return JSONResponse({"status": 404, "message": "not found"}, 404)
            del self.subscriptions[found["id"]]
            return Response(status_code=204)

        self._conduit_routes(app, unauthorised)

    def _live(self, subscription: dict[str, Any]) -> bool:
        """Enabled (or being verified), and for a WebSocket one: its session still open."""
        if subscription["status"] not in ("enabled", "webhook_callback_verification_pending"):
            return False
        session_id = subscription["transport"].get("session_id")
        if session_id is None:
            return True
        return self.eventsub is not None and session_id in {s.id for s in self.eventsub.live()}

    def _transport(self, caller: str, asked: dict[str, Any]) -> dict[str, Any] | JSONResponse:
        """The stored transport of a new subscription, or Twitch's refusal."""
        method = asked.get("method")
        if method == "webhook":
            if caller != "app":
                return JSONResponse({"status": 400, "message": "webhook needs an app token"}, 400)
            if not 10 <= len(asked.get("secret", "")) <= 100:
                return JSONResponse({"status": 400, "message": "bad secret"}, 400)
            return {"method": "webhook", "callback": asked["callback"]}
        if method == "conduit":
            if caller != "app":
                return JSONResponse({"status": 400, "message": "conduit needs an app token"}, 400)
            if asked.get("conduit_id") not in self.conduits:
                return JSONResponse({"status": 400, "message": "conduit not found"}, 400)
            return {"method": "conduit", "conduit_id": asked["conduit_id"]}
        if method == "websocket":
            if caller == "app":
                return JSONResponse(
                    {"status": 400, "message": "websocket transport needs a user token"}, 400
                )
            session_id = asked.get("session_id")
            live = self.eventsub is not None and session_id in {s.id for s in self.eventsub.live()}
            if not live:
                return JSONResponse({"status": 400, "message": "session not connected"}, 400)
            on_session = [
                item
                for item in self.subscriptions.values()
                if item["transport"].get("session_id") == session_id and item["status"] == "enabled"
            ]
            if len(on_session) >= self.websocket_cap:
                return JSONResponse(
                    {"status": 429, "message": "websocket transport subscription limit"}, 429
                )
            return {"method": "websocket", "session_id": session_id, "connected_at": "now"}
        return JSONResponse({"status": 400, "message": "unknown transport"}, 400)

    def _conduit_routes(self, app: FastAPI, unauthorised: JSONResponse) -> None:
        @app.get("/helix/eventsub/conduits")
        async def conduits(request: Request) -> JSONResponse:
            if self._caller(request, app_only=True) is None:
                return unauthorised
            return JSONResponse({"data": list(self.conduits.values())})

        @app.post("/helix/eventsub/conduits")
        async def create_conduit(request: Request) -> JSONResponse:
            if self._caller(request, app_only=True) is None:
                return unauthorised
            count = int((await request.json())["shard_count"])
            conduit = {"id": str(uuid.uuid4()), "shard_count": count}
            self.conduits[conduit["id"]] = conduit
            self.shards[conduit["id"]] = {}
            return JSONResponse({"data": [conduit]})

        @app.patch("/helix/eventsub/conduits")
        async def update_conduit(request: Request) -> JSONResponse:
            if self._caller(request, app_only=True) is None:
                return unauthorised
            body = await request.json()
            conduit = self.conduits.get(body.get("id"))
            if conduit is None:
                return JSONResponse({"status": 404, "message": "conduit not found"}, 404)
            conduit["shard_count"] = int(body["shard_count"])
            return JSONResponse({"data": [conduit]})

        @app.patch("/helix/eventsub/conduits/shards")
        async def update_shards(request: Request) -> JSONResponse:
            if self._caller(request, app_only=True) is None:
                return unauthorised
            body = await request.json()
            conduit = self.conduits.get(body.get("conduit_id"))
            if conduit is None:
                return JSONResponse({"status": 404, "message": "conduit not found"}, 404)
            live = {s.id for s in self.eventsub.live()} if self.eventsub else set()
            data, errors = [], []
            for shard in body["shards"]:
                session_id = shard["transport"].get("session_id")
                if not 0 <= int(shard["id"]) < conduit["shard_count"]:
                    errors.append({"id": shard["id"], "message": "shard not found", "code": ""})
                elif session_id not in live:
                    errors.append(
                        {"id": shard["id"], "message": "websocket session not found", "code": ""}
                    )
                else:
                    stored = {
                        "id": str(shard["id"]),
                        "status": "enabled",
                        "transport": {"method": "websocket", "session_id": session_id},
                    }
                    self.shards[conduit["id"]][stored["id"]] = stored
                    data.append(stored)
            return JSONResponse({"data": data, "errors": errors}, 202)

        @app.get("/helix/eventsub/conduits/shards")
        async def list_shards(request: Request) -> JSONResponse:
            if self._caller(request, app_only=True) is None:
                return unauthorised
            shards = self.shards.get(request.query_params.get("conduit_id", ""), {})
            return JSONResponse({"data": list(shards.values()), "pagination": {}})

    # ---- EventSub deliveries over the fake sockets ------------------------------------
    def attach(self, eventsub: FakeEventSub) -> None:
        """Use ``eventsub`` for WebSocket sessions; their subscriptions and shards follow
        the sessions (disconnected when a session ends, as at Twitch)."""
        self.eventsub = eventsub
        eventsub.on_close.append(self._session_ended)

    def _session_ended(self, session_id: str) -> None:
        for item in self.subscriptions.values():
            if item["transport"].get("session_id") == session_id:
                item["status"] = "websocket_disconnected"
        for shards in self.shards.values():
            for shard in shards.values():
                if shard["transport"].get("session_id") == session_id:
                    shard["status"] = "websocket_disconnected"

    def session_of(self, subscription: dict[str, Any], shard: str | None = None) -> str:
        """The session a notification for ``subscription`` goes to (a conduit's ``shard``,
        or its first enabled one)."""
        transport = subscription["transport"]
        if transport["method"] == "websocket":
            return str(transport["session_id"])
        shards = self.shards[transport["conduit_id"]]
        if shard is None:
            shard = next(k for k, v in sorted(shards.items()) if v["status"] == "enabled")
        return str(shards[shard]["transport"]["session_id"])

    async def notify(
        self,
        subscription_id: str,
        event: dict[str, Any],
        *,
        message_id: str | None = None,
        shard: str | None = None,
    ) -> str:
        assert self.eventsub is not None
        subscription = self.subscriptions[subscription_id]
        session_id = self.session_of(subscription, shard)
        return await self.eventsub.send_notification(
            session_id, subscription, event, message_id=message_id
        )

    async def revoke(self, subscription_id: str, reason: str) -> None:
        assert self.eventsub is not None
        subscription = self.subscriptions.pop(subscription_id)
        subscription["status"] = reason
        await self.eventsub.send_revocation(self.session_of(subscription), subscription)

    def subscription_for(self, kind: str, *, method: str | None = None) -> dict[str, Any]:
        """The enabled subscription of ``kind`` (on a transport of ``method``)."""
        [found] = [
            item
            for item in self.subscriptions.values()
            if item["type"] == kind
            and item["status"] == "enabled"
            and (method is None or item["transport"]["method"] == method)
        ]
        return found
