"""A fake Spotify (accounts service + Web API) served on loopback by uvicorn.

It behaves like the parts WaddleBot uses, as the reference describes them: ``/authorize``
redirects with a code bound to the PKCE challenge; ``/api/token`` checks ``code_verifier``
against it, issues tokens that expire, and rotates refresh tokens on every refresh (single-use,
the strict reading); the Web API wants a live bearer token and answers 429 with
``Retry-After``, 403 ``PREMIUM_REQUIRED`` and 404 ``NO_ACTIVE_DEVICE`` when told to.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from tests.support import serve_asgi

CLIENT_ID = "waddle-app"


def track(tid: str, name: str, artist: str, ms: int = 200_000, **extra: Any) -> dict[str, Any]:
    return {
        "id": tid,
        "uri": f"spotify:track:{tid}",
        "name": name,
        "artists": [{"name": artist}],
        "album": {"name": f"{name} (single)", "images": [{"url": f"https://i.scdn.co/{tid}"}]},
        "duration_ms": ms,
        "explicit": False,
        "external_urls": {"spotify": f"https://open.spotify.com/track/{tid}"},
        **extra,
    }


PENGUIN = track("4uLU6hMCjMI75M1A2tKUQC", "Penguin Dance", "The Waddlers", 180_000)
ICEBERG = track("7ouMYWpwJ422jRcDASZB7P", "Iceberg Blues", "Cold Feet", 240_000)
BANNED = track("0000000000000000000000", "Region Locked", "Nobody", is_playable=False)


def _error(status: int, message: str, reason: str | None = None) -> JSONResponse:
    error: dict[str, Any] = {"status": status, "message": message}
    if reason:
        error["reason"] = reason
    return JSONResponse({"error": error}, status_code=status)


@dataclass
class FakeSpotify:
    """State a test reads and changes; ``url`` is set once it is served."""

    url: str = ""
    premium: bool = True
    device: bool = True
    catalogue: list[dict[str, Any]] = field(default_factory=lambda: [PENGUIN, ICEBERG, BANNED])
    playing: dict[str, Any] | None = None  # {"item", "progress_ms", "is_playing"}
    queue: list[str] = field(default_factory=list)
    skips: int = 0
    throttle: list[int] = field(default_factory=list)  # Retry-After of the next API calls
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code → challenge, uri
    access: set[str] = field(default_factory=set)
    refresh: set[str] = field(default_factory=set)
    grants: list[str] = field(default_factory=list)  # grant_type of each token request
    api_calls: list[str] = field(default_factory=list)
    expires_in: int = 3600
    down: bool = False  # the Web API answers 503

    def play(self, item: dict[str, Any], progress_ms: int = 0, *, playing: bool = True) -> None:
        self.playing = {"item": item, "progress_ms": progress_ms, "is_playing": playing}

    def expire_tokens(self) -> None:
        """Every issued access token stops working (as after an hour)."""
        self.access.clear()

    def _issue(self) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.access.add(access)
        self.refresh.add(refresh)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "scope": "user-read-currently-playing user-read-playback-state "
            "user-modify-playback-state",
            "expires_in": self.expires_in,
            "refresh_token": refresh,
        }

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/authorize")
        async def authorize(
            client_id: str,
            response_type: str,
            redirect_uri: str,
            code_challenge_method: str,
            code_challenge: str,
            scope: str,
            state: str = "",
        ) -> Response:
            assert client_id == CLIENT_ID and response_type == "code"
            assert code_challenge_method == "S256" and "user-modify-playback-state" in scope
            code = secrets.token_urlsafe(12)
            self.codes[code] = (code_challenge, redirect_uri)
            query = urlencode({"code": code, "state": state})
            return RedirectResponse(f"{redirect_uri}?{query}", status_code=302)

        @app.post("/api/token")
        async def token(
            grant_type: str = Form(),
            client_id: str = Form(),
            code: str = Form(""),
            redirect_uri: str = Form(""),
            code_verifier: str = Form(""),
            refresh_token: str = Form(""),
        ) -> Response:
            self.grants.append(grant_type)
            if client_id != CLIENT_ID:
                return JSONResponse({"error": "invalid_client"}, status_code=400)
            if grant_type == "authorization_code":
                challenge, uri = self.codes.pop(code, ("", ""))
                digest = hashlib.sha256(code_verifier.encode()).digest()
                derived = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                if not challenge or derived != challenge or uri != redirect_uri:
                    return JSONResponse({"error": "invalid_grant"}, status_code=400)
                return JSONResponse(self._issue())
            if grant_type == "refresh_token" and refresh_token in self.refresh:
                self.refresh.discard(refresh_token)  # single-use
                return JSONResponse(self._issue())
            return JSONResponse({"error": "invalid_grant"}, status_code=400)

        @app.middleware("http")
        async def bearer(request: Request, call_next: Any) -> Response:
            if not request.url.path.startswith("/v1/"):
                response: Response = await call_next(request)
                return response
            self.api_calls.append(f"{request.method} {request.url.path}")
            header = request.headers.get("authorization", "")
            if header.removeprefix("Bearer ") not in self.access:
                return _error(401, "The access token expired")
            if self.down:
                return _error(503, "Service unavailable")
            if self.throttle:
                wait = self.throttle.pop(0)
                return Response(status_code=429, headers={"Retry-After": str(wait)})
            response = await call_next(request)
            return response

        @app.get("/v1/me")
        async def me() -> dict[str, Any]:
            return {"id": "djpenguin", "display_name": "DJ Penguin"}

        @app.get("/v1/search")
        async def search(q: str, type: str, limit: int = 5) -> dict[str, Any]:
            assert type == "track"
            found = [t for t in self.catalogue if q.lower() in t["name"].lower()][:limit]
            return {"tracks": {"items": found, "total": len(found), "limit": limit, "offset": 0}}

        @app.get("/v1/tracks/{tid}")
        async def one(tid: str) -> Response:
            for item in self.catalogue:
                if item["id"] == tid:
                    return JSONResponse(item)
            return _error(404, "Resource not found")

        def player_refusal() -> Response | None:
            if not self.premium:
                return _error(403, "Player command failed: Premium required", "PREMIUM_REQUIRED")
            if not self.device:
                return _error(
                    404, "Player command failed: No active device found", "NO_ACTIVE_DEVICE"
                )
            return None

        @app.post("/v1/me/player/queue")
        async def enqueue(uri: str) -> Response:
            refused = player_refusal()
            if refused is not None:
                return refused
            self.queue.append(uri)
            return Response(status_code=204)

        @app.post("/v1/me/player/next")
        async def next_track() -> Response:
            refused = player_refusal()
            if refused is not None:
                return refused
            self.skips += 1
            if self.queue:
                tid = self.queue.pop(0).rsplit(":", 1)[-1]
                self.play(next(t for t in self.catalogue if t["id"] == tid))
            return Response(status_code=204)

        @app.get("/v1/me/player/currently-playing")
        async def currently_playing() -> Response:
            if self.playing is None:
                return Response(status_code=204)
            return JSONResponse({"currently_playing_type": "track", "timestamp": 0, **self.playing})

        return app


@asynccontextmanager
async def fake_spotify() -> AsyncIterator[FakeSpotify]:
    fake = FakeSpotify()
    async with serve_asgi(fake.app()) as url:
        fake.url = url
        yield fake


def spotify_settings(fake: FakeSpotify) -> dict[str, Any]:
    """ModuleHarness settings pointing the music module at ``fake``."""
    return {
        "spotify_client_id": CLIENT_ID,
        "spotify_api_base": f"{fake.url}/v1",
        "spotify_accounts_base": fake.url,
        "public_url": "https://bot.example.tv",
    }


def accounts_of(bot: Any, *, clock: Any = None) -> Any:
    """The SpotifyAccounts the bot's music module uses (same database, keys and settings)."""
    from waddlebot.modules.music.spotify_auth import SpotifyAccounts, SpotifyConfig

    settings = bot.runtime.settings
    return SpotifyAccounts(
        bot.runtime.db, settings.secret_box, SpotifyConfig.from_settings(settings), clock=clock
    )


async def connect(bot: Any, fake: FakeSpotify, login: str | None = None) -> Any:
    """The broadcaster's browser: open the login URL at the fake Spotify, follow its redirect
    to our callback (through the bot's own HTTP app), return the callback's answer."""
    import httpx

    from waddlebot.modules.music.spotify_auth import login_url

    if login is None:
        accounts = accounts_of(bot)
        login = login_url(accounts.config, accounts.box, await bot.community_id())
    async with httpx.AsyncClient(timeout=10) as browser:
        consent = await browser.get(login)
    assert consent.status_code == 302, consent.text
    back = httpx.URL(consent.headers["location"])
    assert str(back).startswith("https://bot.example.tv/auth/spotify/callback?")
    return await bot.client.get(back.raw_path.decode())
