"""The bot account's OAuth flow and the Helix tokens, against the fake Twitch over HTTP:
signed expiring state, tokens sealed at rest, refresh before expiry, app token renewal."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select, text

from tests.collectors.twitch.conftest import twitch_app, twitch_settings
from tests.collectors.twitch.fake_twitch import BOT, CLIENT_ID, STREAMER, FakeTwitch, Recorded
from tests.collectors.twitch.twitch_support import (
    authorise_bot,
    chat_event,
    connect_streamer,
    deliver,
    eventually,
    manager_headers,
)
from tests.support import LiveServer, live_server
from waddlebot.collectors.twitch.models import TwitchToken
from waddlebot.collectors.twitch.settings import BOT_SCOPES
from waddlebot.kernel.settings import Settings


async def test_login_redirects_to_twitch_with_signed_state(
    bot: LiveServer, fake_twitch: FakeTwitch, stack_settings: Settings
) -> None:
    answer = await bot.client.get("/auth/twitch/login", headers=bot.operator)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"{fake_twitch.url}/oauth2/authorize"
    )
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["client_id"] == CLIENT_ID
    assert query["response_type"] == "code"
    assert query["redirect_uri"] == f"{stack_settings.public_url}/auth/twitch/callback"
    assert query["scope"].split() == list(BOT_SCOPES)
    assert len(query["state"]) > 20


async def test_callback_stores_tokens_sealed(bot: LiveServer, fake_twitch: FakeTwitch) -> None:
    body = await authorise_bot(bot, fake_twitch)
    assert body == {"status": "authorised", "user_id": BOT["id"], "login": BOT["login"]}
    [access] = fake_twitch.user_tokens
    [refresh] = fake_twitch.refresh_tokens
    runtime = bot.app.state.runtime
    async with runtime.db.session() as session:
        row = (await session.execute(text("SELECT * FROM twitch_tokens"))).mappings().one()
    dumped = " ".join(str(value) for value in row.values())
    assert access not in dumped and refresh not in dumped
    assert runtime.settings.secret_box.decrypt(row["access_token_sealed"]) == access
    assert runtime.settings.secret_box.decrypt(row["refresh_token_sealed"]) == refresh


class HourAgo(TimestampSigner):
    """Signs as if an hour ago: a genuine state that has expired."""

    def get_timestamp(self) -> int:
        return int(time.time()) - 3600


@pytest.mark.parametrize("problem", ["tampered", "expired", "other purpose", "missing"])
async def test_bad_state_is_refused(
    bot: LiveServer, fake_twitch: FakeTwitch, stack_settings: Settings, problem: str
) -> None:
    login = await bot.client.get("/auth/twitch/login", headers=bot.operator)
    state = parse_qs(urlsplit(login.headers["location"]).query)["state"][0]
    secret = stack_settings.resolved_secret_key
    if problem == "tampered":
        state = state[:-2] + ("AA" if not state.endswith("AA") else "BB")
    elif problem == "expired":
        old = URLSafeTimedSerializer(secret, salt="waddlebot:twitch-login", signer=HourAgo)
        state = old.dumps({"nonce": "x"})
    elif problem == "other purpose":
        state = URLSafeTimedSerializer(secret, salt="waddlebot:slack-install").dumps({"n": 1})
    fake_twitch.grant_code("code")
    params = {"code": "code"} if problem == "missing" else {"code": "code", "state": state}
    answer = await bot.client.get("/auth/twitch/callback", params=params)
    assert answer.status_code == 400, answer.text
    if problem == "expired":
        assert "expired" in answer.text
    assert fake_twitch.calls("POST", "/oauth2/token") == []
    async with bot.app.state.runtime.db.session() as session:
        assert (await session.scalars(select(TwitchToken))).all() == []


async def test_declined_and_invalid_codes_are_400(bot: LiveServer, fake_twitch: FakeTwitch) -> None:
    answer = await bot.client.get(
        "/auth/twitch/callback",
        params={"error": "access_denied", "error_description": "The user denied you access"},
    )
    assert answer.status_code == 400 and "denied" in answer.text
    login = await bot.client.get("/auth/twitch/login", headers=bot.operator)
    state = parse_qs(urlsplit(login.headers["location"]).query)["state"][0]
    answer = await bot.client.get(
        "/auth/twitch/callback", params={"code": "never-issued", "state": state}
    )
    assert answer.status_code == 400 and "refused" in answer.text


async def test_only_the_configured_bot_account_is_accepted(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    twitch = twitch_settings(fake_twitch, bot_user_id=BOT["id"])
    async with live_server(twitch_app(stack_settings, twitch)) as server:
        login = await server.client.get("/auth/twitch/login", headers=server.operator)
        state = parse_qs(urlsplit(login.headers["location"]).query)["state"][0]
        fake_twitch.grant_code("code", STREAMER)
        answer = await server.client.get(
            "/auth/twitch/callback", params={"code": "code", "state": state}
        )
        assert answer.status_code == 403
        assert (await authorise_bot(server, fake_twitch))["user_id"] == BOT["id"]


async def test_login_needs_an_admin_key_even_on_loopback(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    async with live_server(twitch_app(stack_settings, twitch_settings(fake_twitch))) as server:
        assert (await server.client.get("/auth/twitch/login")).status_code == 401
        headers = await manager_headers(server, scopes=("admin",))
        answer = await server.client.get("/auth/twitch/login", headers=headers)
        assert answer.status_code == 302


async def test_user_token_is_refreshed_before_it_expires(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    fake_twitch.user_token_ttl = 60  # inside the 300 s refresh margin
    async with live_server(twitch_app(stack_settings, twitch_settings(fake_twitch))) as server:
        await authorise_bot(server, fake_twitch)
        [first] = fake_twitch.user_tokens
        await deliver(server.client, chat_event("!ping"))
        [sent] = await eventually(lambda: fake_twitch.chat)
    refreshes = [
        r
        for r in fake_twitch.calls("POST", "/oauth2/token")
        if r.body["grant_type"] == "refresh_token"
    ]
    assert len(refreshes) == 1
    assert sent.headers["authorization"] != f"Bearer {first}"
    assert sent.headers["authorization"].removeprefix("Bearer ") in fake_twitch.user_tokens


async def test_app_token_is_cached_and_renewed_on_401(
    bot: LiveServer, fake_twitch: FakeTwitch
) -> None:
    await authorise_bot(bot, fake_twitch)
    await connect_streamer(bot)

    def grants() -> list[Recorded]:
        calls = fake_twitch.calls("POST", "/oauth2/token")
        return [r for r in calls if r.body["grant_type"] == "client_credentials"]

    assert len(grants()) == 1  # users + list + ten creates: one token
    fake_twitch.expire_app_tokens()
    answer = await bot.client.post("/api/twitch/v1/reconcile", headers=await manager_headers(bot))
    assert answer.status_code == 200, answer.text
    assert len(grants()) == 2


async def test_user_token_is_refreshed_when_helix_says_401(
    bot: LiveServer, fake_twitch: FakeTwitch
) -> None:
    await authorise_bot(bot, fake_twitch)
    fake_twitch.user_tokens.clear()  # Twitch invalidated the token early
    await deliver(bot.client, chat_event("!ping"))
    await eventually(lambda: fake_twitch.chat_texts() == ["pong"])
    refused, sent = fake_twitch.chat
    assert (
        refused.status == 401 and sent.headers["authorization"] != refused.headers["authorization"]
    )
