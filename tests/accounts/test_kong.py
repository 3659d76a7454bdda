"""Kong's consumer headers: ignored unless configured and sent from a trusted proxy."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.accounts.conftest import AUTH, Launcher, add_user
from waddlebot.kernel.settings import Settings

IDENTITY = "/api/identity/v1/users/nobody/identities"


def consumer(custom_id: str | None = None, groups: str = "account") -> dict[str, str]:
    headers = {"X-Consumer-Username": "portal", "X-Consumer-ID": "c-1", "X-Consumer-Groups": groups}
    if custom_id is not None:
        headers["X-Consumer-Custom-ID"] = custom_id
    return headers


async def test_headers_are_ignored_when_not_configured(launch: Launcher) -> None:
    async with launch() as bot:
        user = await add_user(bot)
        answer = await bot.client.get(f"{AUTH}/me", headers=consumer(user.id))
        assert answer.status_code == 401


async def test_headers_are_ignored_from_an_untrusted_address(launch: Launcher) -> None:
    async with launch(trust_kong_headers=True, kong_trusted_proxies=["10.0.0.0/8"]) as bot:
        user = await add_user(bot)
        assert (await bot.client.get(f"{AUTH}/me", headers=consumer(user.id))).status_code == 401
    async with launch(trust_kong_headers=False, kong_trusted_proxies=["127.0.0.0/8"]) as bot:
        user = await add_user(bot, "bo@example.com")
        assert (await bot.client.get(f"{AUTH}/me", headers=consumer(user.id))).status_code == 401


async def test_headers_are_honoured_from_a_trusted_proxy(launch: Launcher) -> None:
    async with launch(trust_kong_headers=True, kong_trusted_proxies=["127.0.0.1/32"]) as bot:
        user = await add_user(bot)
        me = await bot.client.get(f"{AUTH}/me", headers=consumer(user.id))
        assert me.status_code == 200 and me.json()["id"] == user.id
        # Groups are the scopes: a person's consumer cannot reach identity administration …
        assert (await bot.client.get(IDENTITY, headers=consumer(user.id))).status_code == 403
        # … an operator consumer (no WaddleBot user) with the scope can.
        operator = consumer(groups="identity:manage, other")
        assert (await bot.client.get(IDENTITY, headers=operator)).status_code == 404
        assert (await bot.client.get(IDENTITY, headers=consumer(groups=""))).status_code == 403
        # Unknown user id: no user (so no account to show).
        assert (await bot.client.get(f"{AUTH}/me", headers=consumer("ghost"))).status_code == 403
        anonymous = {**consumer(user.id), "X-Anonymous-Consumer": "true"}
        assert (await bot.client.get(f"{AUTH}/me", headers=anonymous)).status_code == 401
        nameless = {"X-Consumer-Custom-ID": user.id, "X-Consumer-Groups": "account"}
        assert (await bot.client.get(f"{AUTH}/me", headers=nameless)).status_code == 401


def test_a_bad_proxy_cidr_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="kong_trusted_proxies"):
        Settings(kong_trusted_proxies=["10.0.0.0/33"])
    parsed = Settings(kong_trusted_proxies="10.0.0.0/8, ::1")
    assert parsed.kong_trusted_proxies == ["10.0.0.0/8", "::1"]
