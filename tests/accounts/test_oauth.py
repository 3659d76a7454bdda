"""OAuth login against a fake Twitch/Discord/Slack on loopback (only the provider is fake)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from tests.accounts.conftest import AUTH, Launcher
from tests.support import LiveServer, serve_asgi
from waddlebot.accounts.service import OAUTH_COOKIE
from waddlebot.kernel.security.sessions import COOKIE_NAME
from waddlebot.kernel.storage.models import PlatformIdentity, User

PUBLIC_URL = "http://127.0.0.1:8000"
SECRETS = {"twitch": "tw-secret", "discord": "dc-secret", "slack": "sl-secret"}
# code the fake "authorize" step hands back → the account it stands for (id, name)
ACCOUNTS = {"alice": ("1001", "Alice"), "bob": ("1002", "Bob")}


def fake_provider() -> FastAPI:
    """Token and user endpoints of all three providers, checking what a real one checks."""
    app = FastAPI()

    async def exchange(request: Request, provider: str) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        expected_redirect = f"{PUBLIC_URL}{AUTH}/oauth/{provider}/callback"
        good = (
            form.get("client_id") == f"{provider}-id"
            and form.get("client_secret") == SECRETS[provider]
            and form.get("grant_type") == "authorization_code"
            and form.get("redirect_uri") == expected_redirect
            and form.get("code") in ACCOUNTS
        )
        if not good:
            if provider == "slack":
                return JSONResponse({"ok": False, "error": "invalid_code"})
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        body: dict[str, Any] = {"access_token": f"tok-{form['code']}", "token_type": "bearer"}
        if provider == "slack":
            body["ok"] = True
        return JSONResponse(body)

    def account(request: Request) -> tuple[str, str] | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer tok-")
        return ACCOUNTS.get(token)

    @app.post("/twitch/oauth2/token")
    async def twitch_token(request: Request) -> JSONResponse:
        return await exchange(request, "twitch")

    @app.get("/twitch/helix/users")
    async def twitch_users(request: Request) -> JSONResponse:
        found = account(request)
        if found is None or request.headers.get("client-id") != "twitch-id":
            return JSONResponse({"message": "invalid token"}, status_code=401)
        user_id, name = found
        return JSONResponse(
            {"data": [{"id": f"t{user_id}", "login": name.lower(), "display_name": name}]}
        )

    @app.post("/discord/api/oauth2/token")
    async def discord_token(request: Request) -> JSONResponse:
        return await exchange(request, "discord")

    @app.get("/discord/api/users/@me")
    async def discord_me(request: Request) -> JSONResponse:
        found = account(request)
        if found is None:
            return JSONResponse({"message": "401: Unauthorized"}, status_code=401)
        user_id, name = found
        return JSONResponse({"id": f"d{user_id}", "username": name.lower(), "global_name": name})

    @app.post("/slack/api/openid.connect.token")
    async def slack_token(request: Request) -> JSONResponse:
        return await exchange(request, "slack")

    @app.get("/slack/api/openid.connect.userInfo")
    async def slack_userinfo(request: Request) -> JSONResponse:
        found = account(request)
        if found is None:
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        user_id, name = found
        return JSONResponse(
            {
                "ok": True,
                "sub": f"U{user_id}",
                "https://slack.com/user_id": f"U{user_id}",
                "https://slack.com/team_id": "T0TEAM",
                "name": name,
            }
        )

    return app


def platform_id(provider: str, code: str) -> str:
    return {"twitch": "t", "discord": "d", "slack": "U"}[provider] + ACCOUNTS[code][0]


@pytest.fixture
def oauth_bot(launch: Launcher) -> Any:
    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[LiveServer]:
        async with serve_asgi(fake_provider()) as fake:
            settings: dict[str, Any] = {
                "public_url": PUBLIC_URL,
                "oauth_twitch_client_id": "twitch-id",
                "oauth_twitch_client_secret": SECRETS["twitch"],
                "oauth_discord_client_id": "discord-id",
                "oauth_discord_client_secret": SECRETS["discord"],
                "oauth_slack_client_id": "slack-id",
                "oauth_slack_client_secret": SECRETS["slack"],
                "oauth_twitch_auth_base": f"{fake}/twitch/oauth2",
                "oauth_twitch_api_base": f"{fake}/twitch/helix",
                "oauth_discord_base": f"{fake}/discord",
                "oauth_slack_base": f"{fake}/slack",
                **overrides,
            }
            async with launch(**settings) as bot:
                bot.fake_url = fake  # type: ignore[attr-defined]
                yield bot

    return start


async def start_login(browser: httpx.AsyncClient, provider: str) -> dict[str, str]:
    """Begin a login; return the authorize URL's query (state, redirect_uri, …)."""
    answer = await browser.get(f"{AUTH}/oauth/{provider}/start")
    assert answer.status_code == 302, answer.text
    assert OAUTH_COOKIE in browser.cookies
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}


async def callback(browser: httpx.AsyncClient, provider: str, **params: str) -> httpx.Response:
    return await browser.get(f"{AUTH}/oauth/{provider}/callback", params=params)


def browser_for(bot: LiveServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=bot.url, timeout=30.0)


async def count(bot: LiveServer, model: type[User] | type[PlatformIdentity]) -> int:
    async with bot.app.state.runtime.db.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


AUTHORIZE_PATHS = {
    "twitch": "/twitch/oauth2/authorize",
    "discord": "/discord/oauth2/authorize",
    "slack": "/slack/openid/connect/authorize",
}


@pytest.mark.parametrize("provider", ["twitch", "discord", "slack"])
async def test_login_creates_then_reuses_the_user(oauth_bot: Any, provider: str) -> None:
    async with oauth_bot() as bot, browser_for(bot) as browser:
        started = await browser.get(f"{AUTH}/oauth/{provider}/start")
        location = urlsplit(started.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == (
            bot.fake_url + AUTHORIZE_PATHS[provider]
        )
        query = parse_qs(location.query)
        assert query["client_id"] == [f"{provider}-id"]
        assert query["response_type"] == ["code"]
        assert query["redirect_uri"] == [f"{PUBLIC_URL}{AUTH}/oauth/{provider}/callback"]
        done = await callback(browser, provider, code="alice", state=query["state"][0])
        assert done.status_code == 302, done.text
        assert done.headers["location"] == "/"
        assert COOKIE_NAME in browser.cookies
        me = (await browser.get(f"{AUTH}/me")).json()
        assert me["display_name"] == "Alice"
        assert me["accounts"] == [
            {
                "platform": provider,
                "platform_user_id": platform_id(provider, "alice"),
                "username": "Alice",
            }
        ]
        assert (await count(bot, User), await count(bot, PlatformIdentity)) == (1, 1)

        # A second login (another browser) is the same person.
        async with browser_for(bot) as other:
            state = (await start_login(other, provider))["state"]
            assert (await callback(other, provider, code="alice", state=state)).status_code == 302
            assert (await other.get(f"{AUTH}/me")).json()["id"] == me["id"]
        assert (await count(bot, User), await count(bot, PlatformIdentity)) == (1, 1)
        if provider == "slack":
            async with bot.app.state.runtime.db.read_session() as session:
                identity = await session.scalar(select(PlatformIdentity))
            assert identity is not None and identity.server_id == "T0TEAM"


@pytest.mark.parametrize("provider", ["twitch", "discord", "slack"])
async def test_an_account_known_from_chat_logs_into_its_user(oauth_bot: Any, provider: str) -> None:
    async with oauth_bot() as bot, browser_for(bot) as browser:
        async with bot.app.state.runtime.db.session() as session:
            known = User(display_name="Bob from chat")
            session.add(known)
            await session.flush()
            session.add(
                PlatformIdentity(
                    user_id=known.id,
                    platform=provider,
                    platform_user_id=platform_id(provider, "bob"),
                    username="bob_old_name",
                )
            )
        state = (await start_login(browser, provider))["state"]
        assert (await callback(browser, provider, code="bob", state=state)).status_code == 302
        me = (await browser.get(f"{AUTH}/me")).json()
        assert me["id"] == known.id
        assert me["accounts"][0]["username"] == "Bob"  # the latest name is stored
        assert await count(bot, User) == 1


async def test_tampered_state_is_refused(oauth_bot: Any) -> None:
    async with oauth_bot() as bot, browser_for(bot) as browser:
        state = (await start_login(browser, "twitch"))["state"]
        flipped = state[:-3] + ("AAA" if not state.endswith("AAA") else "BBB")
        answer = await callback(browser, "twitch", code="alice", state=flipped)
        assert answer.status_code == 400
        assert "invalid signature" in answer.json()["detail"]
        assert COOKIE_NAME not in browser.cookies
        assert await count(bot, User) == 0


async def test_expired_state_is_refused(oauth_bot: Any) -> None:
    async with oauth_bot(oauth_state_max_age=60) as bot, browser_for(bot) as browser:
        await start_login(browser, "discord")
        nonce = browser.cookies[OAUTH_COOKIE]

        class LongAgo(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(time.time()) - 3600

        old = URLSafeTimedSerializer(
            "test-secret", salt="waddlebot:oauth-login", signer=LongAgo
        ).dumps({"p": "discord", "b": hashlib.sha256(nonce.encode()).hexdigest()})
        answer = await callback(browser, "discord", code="alice", state=old)
        assert answer.status_code == 400
        assert "expired" in answer.json()["detail"]


async def test_state_from_another_browser_is_refused(oauth_bot: Any) -> None:
    async with oauth_bot() as bot, browser_for(bot) as victim, browser_for(bot) as attacker:
        state = (await start_login(attacker, "slack"))["state"]
        # The attacker lures the victim to the callback with the attacker's state.
        answer = await callback(victim, "slack", code="alice", state=state)
        assert answer.status_code == 400
        assert "another browser" in answer.json()["detail"]
        await start_login(victim, "slack")  # the victim's own nonce does not match either
        answer = await callback(victim, "slack", code="alice", state=state)
        assert answer.status_code == 400
        assert COOKIE_NAME not in victim.cookies


async def test_state_is_single_use_and_bound_to_its_provider(oauth_bot: Any) -> None:
    async with oauth_bot() as bot, browser_for(bot) as browser:
        state = (await start_login(browser, "twitch"))["state"]
        crossed = await callback(browser, "discord", code="alice", state=state)
        assert crossed.status_code == 400 and "another provider" in crossed.json()["detail"]
        nonce = browser.cookies[OAUTH_COOKIE]
        assert (await callback(browser, "twitch", code="alice", state=state)).status_code == 302
        assert OAUTH_COOKIE not in browser.cookies  # cleared after use
        browser.cookies.set(OAUTH_COOKIE, nonce, path=f"{AUTH}/oauth")  # a copy replayed
        replay = await callback(browser, "twitch", code="alice", state=state)
        assert replay.status_code == 400 and "already used" in replay.json()["detail"]


@pytest.mark.parametrize("provider", ["twitch", "discord", "slack"])
async def test_provider_errors_are_refused(oauth_bot: Any, provider: str) -> None:
    async with oauth_bot() as bot, browser_for(bot) as browser:
        state = (await start_login(browser, provider))["state"]
        denied = await callback(browser, provider, error="access_denied", state=state)
        assert denied.status_code == 400 and "access_denied" in denied.json()["detail"]
        state = (await start_login(browser, provider))["state"]
        bad_code = await callback(browser, provider, code="forged", state=state)
        assert bad_code.status_code == 502
        assert f"login with {provider} failed" in bad_code.json()["detail"]
        missing = await callback(browser, provider, state=state)
        assert missing.status_code == 400
        assert COOKIE_NAME not in browser.cookies
        assert await count(bot, User) == 0


async def test_unknown_or_unconfigured_provider_is_404(oauth_bot: Any) -> None:
    async with oauth_bot(oauth_discord_client_secret=None) as bot:
        unknown = await bot.client.get(f"{AUTH}/oauth/myspace/start")
        assert unknown.status_code == 404 and "unknown login provider" in unknown.text
        off = await bot.client.get(f"{AUTH}/oauth/discord/start")
        assert off.status_code == 404
        assert "WADDLEBOT_OAUTH_DISCORD_CLIENT_ID" in off.json()["detail"]
