"""Self-service API keys over HTTP on both stacks: shown once, hashed at rest, scoped,
expiring, revocable by their owner only, at most N per user."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import MetaData, select

from tests.accounts.conftest import AUTH, Launcher, add_user, logged_in
from tests.support import LiveServer
from waddlebot.accounts.manager import create_service_account
from waddlebot.kernel.security.api_keys import (
    ApiKeyLimitReached,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)


async def every_value_in_the_database(bot: LiveServer) -> str:
    """Every row of every table, as text, to search for secrets."""
    db = bot.app.state.runtime.db
    metadata = MetaData()
    dumped: list[str] = []
    async with db.engine.connect() as connection:
        await connection.run_sync(metadata.reflect)
        for table in metadata.sorted_tables:
            for row in (await connection.execute(select(table))).all():
                dumped.append(repr(tuple(row)))
    assert dumped  # the dump did read something
    return "\n".join(dumped)


async def test_key_is_shown_once_and_stored_only_as_a_hash(
    launch: Launcher, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    async with launch() as bot:
        await add_user(bot)
        browser = await logged_in(bot, "ada@example.com")
        created = await browser.post(
            f"{AUTH}/keys", json={"name": "stream deck", "scopes": ["labels:read"]}
        )
        assert created.status_code == 201, created.text
        body = created.json()
        key = body["key"]
        assert key.startswith(body["prefix"]) and body["prefix"].startswith("wbk_")
        assert body["scopes"] == ["labels:read"] and body["active"] is True

        # Using it works, and marks it used.
        me = await bot.client.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {key}"})
        assert me.status_code == 403  # works (authenticated), but lacks the 'account' scope
        listed = (await browser.get(f"{AUTH}/keys")).json()
        assert [k["id"] for k in listed] == [body["id"]]
        assert "key" not in listed[0]
        assert listed[0]["last_used_at"] is not None

        secret = key.split("_", 2)[2]
        dump = await every_value_in_the_database(bot)
        assert body["id"] in dump  # the row is there …
        assert key not in dump and secret not in dump  # … but not the key
        await browser.aclose()
    logs = caplog.text + "".join(repr(r.msg) for r in caplog.records) + capsys.readouterr().out
    assert "api_key_created" in logs  # the logs were captured …
    assert secret not in logs  # … and the key is not in them


async def test_scope_refusal_expiry_and_revocation(launch: Launcher) -> None:
    async with launch() as bot:
        user = await add_user(bot)
        db = bot.app.state.runtime.db
        key, row = await create_api_key(db, name="k", scopes=["account"], user_id=user.id)
        headers = {"X-API-Key": key}
        assert (await bot.client.get(f"{AUTH}/me", headers=headers)).status_code == 200
        # Scope refusal: identity administration is not a scope a person's key can hold.
        path = f"/api/identity/v1/users/{user.id}/identities"
        assert (await bot.client.get(path, headers=headers)).status_code == 403

        short, _ = await create_api_key(
            db, name="short", scopes=["account"], user_id=user.id, expires_in=timedelta(seconds=1)
        )
        assert (await bot.client.get(f"{AUTH}/me", headers={"X-API-Key": short})).status_code == 200
        await asyncio.sleep(1.2)
        expired = await bot.client.get(f"{AUTH}/me", headers={"X-API-Key": short})
        assert expired.status_code == 401

        revoked = await bot.client.delete(f"{AUTH}/keys/{row.id}", headers=headers)
        assert revoked.status_code == 204
        assert (await bot.client.get(f"{AUTH}/me", headers=headers)).status_code == 401
        states = {k.name: k.active for k in await list_api_keys(db, user.id)}
        assert states == {"k": False, "short": False}


async def test_per_user_limit_counts_active_keys_only(launch: Launcher) -> None:
    async with launch(api_keys_per_user=2) as bot:
        await add_user(bot)
        browser = await logged_in(bot, "ada@example.com")
        ids = []
        for n in range(2):
            made = await browser.post(f"{AUTH}/keys", json={"name": f"k{n}", "scopes": ["account"]})
            assert made.status_code == 201
            ids.append(made.json()["id"])
        over = await browser.post(f"{AUTH}/keys", json={"name": "k2", "scopes": ["account"]})
        assert over.status_code == 409 and "at most 2" in over.json()["detail"]
        assert (await browser.delete(f"{AUTH}/keys/{ids[0]}")).status_code == 204
        again = await browser.post(f"{AUTH}/keys", json={"name": "k3", "scopes": ["account"]})
        assert again.status_code == 201
        await browser.aclose()


async def test_limit_holds_under_concurrent_creation(launch: Launcher) -> None:
    async with launch() as bot:
        user = await add_user(bot)
        db = bot.app.state.runtime.db

        async def make(n: int) -> bool:
            try:
                await create_api_key(db, name=f"k{n}", scopes=["account"], user_id=user.id, limit=3)
            except ApiKeyLimitReached:
                return False
            return True

        results = await asyncio.gather(*(make(n) for n in range(8)))
        assert sum(results) <= 3
        assert len(await list_api_keys(db, user.id)) == sum(results)


async def test_nobody_revokes_someone_elses_key(launch: Launcher) -> None:
    async with launch() as bot:
        ada = await add_user(bot)
        await add_user(bot, "eve@example.com")
        db = bot.app.state.runtime.db
        key, row = await create_api_key(db, name="ada's", scopes=["account"], user_id=ada.id)
        eve = await logged_in(bot, "eve@example.com")
        answer = await eve.delete(f"{AUTH}/keys/{row.id}")
        assert answer.status_code == 404
        assert (await bot.client.get(f"{AUTH}/me", headers={"X-API-Key": key})).status_code == 200
        assert (await eve.get(f"{AUTH}/keys")).json() == []
        assert not await revoke_api_key(db, row.id, owner_id="someone-else")
        await eve.aclose()


async def test_what_a_person_may_put_on_a_key(launch: Launcher) -> None:
    async with launch() as bot:
        await add_user(bot)
        await add_user(bot, "root@example.com", superuser=True)
        person = await logged_in(bot, "ada@example.com")
        admin = await person.post(f"{AUTH}/keys", json={"name": "x", "scopes": ["admin"]})
        assert admin.status_code == 403 and "superusers" in admin.json()["detail"]
        wide = await person.post(f"{AUTH}/keys", json={"name": "x", "scopes": ["identity:manage"]})
        assert wide.status_code == 422 and "not available to people" in wide.json()["detail"]
        for bad in (
            {"name": "x", "scopes": []},
            {"name": "x", "scopes": ["Bad Scope!"]},
            {"name": "", "scopes": ["account"]},
            {"name": "x", "scopes": ["account"], "expires_in_days": 0},
        ):
            assert (await person.post(f"{AUTH}/keys", json=bad)).status_code == 422, bad
        root = await logged_in(bot, "root@example.com")
        made = await root.post(
            f"{AUTH}/keys", json={"name": "ops", "scopes": ["admin"], "expires_in_days": 30}
        )
        assert made.status_code == 201 and made.json()["expires_at"] is not None
        typo = await root.post(f"{AUTH}/keys", json={"name": "t", "scopes": ["labels:wrte"]})
        assert typo.status_code == 422
        assert typo.json()["detail"].startswith("unknown scope labels:wrte; valid scopes: account")
        # A key with fewer scopes cannot mint a wider one.
        narrow = await person.post(f"{AUTH}/keys", json={"name": "n", "scopes": ["account"]})
        key = narrow.json()["key"]
        wider = await bot.client.post(
            f"{AUTH}/keys",
            json={"name": "w", "scopes": ["account", "labels:write"]},
            headers={"X-API-Key": key},
        )
        assert wider.status_code == 403
        await person.aclose()
        await root.aclose()


async def test_service_account_keys_are_not_community_bound(launch: Launcher) -> None:
    async with launch() as bot:
        db = bot.app.state.runtime.db
        robot = await create_service_account(db, "twitch-collector")
        key, _ = await create_api_key(
            db, name="collector", scopes=["account", "identity:manage"], user_id=robot.id
        )
        me = await bot.client.get(f"{AUTH}/me", headers={"X-API-Key": key})
        assert me.status_code == 200 and me.json()["kind"] == "service"
        path = f"/api/identity/v1/users/{robot.id}/identities"
        assert (await bot.client.get(path, headers={"X-API-Key": key})).status_code == 404
        # No password: it can never log in.
        login = await bot.client.post(
            f"{AUTH}/login", json={"email": "twitch-collector", "password": "x" * 12}
        )
        assert login.status_code == 401


async def test_with_kong_consumers_a_key_is_copied_sealed_and_announced(launch: Launcher) -> None:
    """WADDLEBOT_KONG_CONSUMERS: the key's sealed copy is kept for the Kong broker, a creation
    and a revocation each wake it (gateway:keys-changed), and the copy goes with revocation."""
    from sqlalchemy import select

    from waddlebot.kernel.security.key_copies import KEYS_CHANGED, ApiKeyGatewayCopy

    async with launch(kong_consumers=True) as bot:
        await add_user(bot)
        runtime = bot.app.state.runtime
        browser = await logged_in(bot, "ada@example.com")
        async with runtime.backend.pubsub.subscribe(KEYS_CHANGED) as wakes:
            made = await browser.post(f"{AUTH}/keys", json={"name": "k", "scopes": ["account"]})
            assert made.status_code == 201, made.text
            assert await wakes.get(5) is not None
            async with runtime.db.read_session() as session:
                sealed = await session.scalar(select(ApiKeyGatewayCopy.key_sealed))
            assert (
                sealed is not None
                and runtime.settings.secret_box.unseal(sealed) == made.json()["key"]
            )
            assert (await browser.delete(f"{AUTH}/keys/{made.json()['id']}")).status_code == 204
            assert await wakes.get(5) is not None
            async with runtime.db.read_session() as session:
                assert await session.scalar(select(ApiKeyGatewayCopy.key_sealed)) is None
        await browser.aclose()
