"""Remote modules' storage through the router's signed host API, over real HTTP on loopback:
an HTTP module served by the SDK adapter stores in the router's database (community and user
scopes, listing, limits as chat replies), and the API refuses a missing, forged, expired or
other-purpose token and keeps every token to its own module and community."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.marketplace.conftest import Market
from tests.module_support import module_request
from tests.support import free_port, serve_asgi
from waddlebot.kernel.security.signed_state import StateSigner
from waddlebot.kernel.storage.module_store import DatabaseDataStore
from waddlebot.router.host_api import PREFIX, TOKEN_PREFIX, HostGrants
from waddlebot.sdk import CommandError, Context, Module, signing
from waddlebot.sdk.adapters import http_app, lambda_handler, openwhisk_action
from waddlebot.sdk.storage import ModuleStorage

notes = Module("notes", version="1.0.0", description="Notes kept by the router.")


@notes.command("note")
async def note(ctx: Context, key: str, *words: str) -> None:
    await ctx.storage.set(key, " ".join(words))
    ctx.reply(f"noted {key}")


@notes.command("read")
async def read(ctx: Context, key: str) -> None:
    ctx.reply(str(await ctx.storage.get(key, "nothing")))


@notes.command("visit")
async def visit(ctx: Context) -> None:
    mine = await ctx.user_storage.incr("visits")
    total = await ctx.storage.incr("visits")
    ctx.reply(f"{ctx.user_name}: {mine} of {total}")


@notes.command("list")
async def listing(ctx: Context, prefix: str = "") -> None:
    ctx.reply(", ".join(await ctx.storage.keys(prefix)) or "none")


@notes.command("forget")
async def forget(ctx: Context, key: str) -> None:
    ctx.reply("forgotten" if await ctx.storage.delete(key) else "never knew it")


@notes.command("huge")
async def huge(ctx: Context) -> None:
    await ctx.storage.set("huge", "x" * 70_000)


@notes.command("bump")
async def bump(ctx: Context, key: str) -> None:
    try:
        ctx.reply(str(await ctx.storage.incr(key)))
    except CommandError as refusal:
        ctx.reply(f"refused: {refusal.message}")


def manifest(port: int) -> dict[str, Any]:
    described = notes.manifest(runtime="http", endpoint=f"http://127.0.0.1:{port}/")
    return described.model_dump(mode="json")


async def test_a_remote_module_stores_in_the_routers_database(market: Market) -> None:
    port = free_port()
    published = await market.publish(manifest(port))
    assert published.status_code == 201, published.text
    secret = published.json()["signing_secret"]
    community = await market.lobby()
    async with serve_asgi(http_app(notes, secret), port=port):
        assert (await market.install(community, "notes")).status_code == 200
        say = market.bot.texts
        assert await say("!note motd be kind") == ["noted motd"]
        assert await say("!read motd") == ["be kind"]
        assert await say("!visit") == ["alice: 1 of 1"]
        assert await say("!visit", user="bob") == ["bob: 1 of 2"]
        assert await say("!visit") == ["alice: 2 of 3"]
        assert await say("!note quote:1 hi") == ["noted quote:1"]
        assert await say("!list") == ["motd, quote:1, visits"]
        assert await say("!list quote:") == ["quote:1"]
        assert await say("!huge") == ["Storage values are at most 64 KiB as JSON."]
        assert await say(f"!note {'k' * 201} x") == ["Storage keys are 1 to 200 characters."]
        assert await say("!bump motd") == [
            "refused: Storage key 'motd' does not hold a whole number."
        ]
        assert await say("!forget motd") == ["forgotten"]
        assert await say("!forget motd") == ["never knew it"]

    # the data is in the router's table, where an in-process module would find it
    runtime = market.bot.app.state.runtime
    stored = ModuleStorage(DatabaseDataStore(runtime.db, runtime.backend.kv), "notes", community)
    assert await stored.get("quote:1") == "hi"
    assert await stored.get("visits") == 3
    assert await stored.for_user("playground:alice").get("visits") == 2
    assert await stored.for_user("playground:bob").get("visits") == 1


def storage_client(market: Market, token: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=f"{market.bot.url}{PREFIX}/storage/", headers=headers)


def grants(market: Market) -> HostGrants:
    return HostGrants.from_settings(market.bot.app.state.runtime.settings)


async def test_the_host_api_serves_exactly_the_tokens_module_and_community(
    market: Market,
) -> None:
    lobby = await market.lobby()
    await market.bot.say("!ping", channel="elsewhere")
    elsewhere = (
        await market.client.get(
            "/api/marketplace/v1/communities/lookup",
            params={"platform": "playground", "server_id": "playground", "channel_id": "elsewhere"},
            headers=market.installer,
        )
    ).json()["community_id"]
    mine = grants(market).issue("notes", lobby, ttl=60).token
    other_module = grants(market).issue("dice", lobby, ttl=60).token
    other_place = grants(market).issue("notes", elsewhere, ttl=60).token

    async with storage_client(market, mine) as client:
        put = await client.put("values", json={"key": "k", "value": {"a": [1, 2]}})
        assert put.status_code == 204, put.text
        assert (await client.put("values", json={"key": "k", "value": 1, "user": "u1"})).is_success
        assert (await client.get("values", params={"key": "k"})).json() == {
            "found": True,
            "value": {"a": [1, 2]},
        }
        assert (await client.get("values", params={"key": "k", "user": "u1"})).json()["value"] == 1
        assert (await client.get("values", params={"key": "nope"})).json() == {
            "found": False,
            "value": None,
        }
        counted = await client.post("counters", json={"key": "n", "amount": 5})
        assert counted.json() == {"value": 5}
        assert (await client.get("keys")).json() == {"keys": ["k", "n"]}
        assert (await client.get("keys", params={"user": "u1"})).json() == {"keys": ["k"]}

        # the same limits as in chat, as 422 with the message
        too_long = await client.put("values", json={"key": "k" * 201, "value": 1})
        assert too_long.status_code == 422
        assert too_long.json() == {"detail": "Storage keys are 1 to 200 characters."}
        too_big = await client.put("values", json={"key": "big", "value": "x" * 70_000})
        assert too_big.status_code == 422 and "64 KiB" in too_big.json()["detail"]
        not_number = await client.post("counters", json={"key": "k"})
        assert not_number.status_code == 422
        assert "does not hold a whole number" in not_number.json()["detail"]
        bad_ttl = await client.put("values", json={"key": "t", "value": 1, "ttl": -1})
        assert bad_ttl.status_code == 422
        assert (await client.get("values", params={"key": "k", "user": ""})).status_code == 422

    for token in (other_module, other_place):
        async with storage_client(market, token) as client:
            assert (await client.get("values", params={"key": "k"})).json()["found"] is False
            assert (await client.get("keys")).json() == {"keys": []}

    async with storage_client(market, mine) as client:
        deleted = await client.delete("values", params={"key": "k"})
        assert deleted.json() == {"deleted": True}


def tampered(token: str) -> str:
    """One payload character changed (every bit of a middle base64 character counts)."""
    at = len(TOKEN_PREFIX) + 3
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]


async def test_missing_forged_expired_and_foreign_tokens_are_refused(
    market: Market,
) -> None:
    lobby = await market.lobby()
    settings = market.bot.app.state.runtime.settings
    secret = settings.resolved_secret_key
    payload = {"m": "notes", "c": lobby, "exp": time.time() + 60}
    refused = {
        "missing": None,
        "not a host token": "wbs_router_" + "0" * 64,
        "another installation": TOKEN_PREFIX
        + StateSigner("other-secret", "module-host").sign(payload),
        "another purpose": TOKEN_PREFIX + StateSigner(secret, "twitch-login").sign(payload),
        "the module's signing secret": TOKEN_PREFIX
        + StateSigner(signing.module_secret(secret, "notes"), "module-host").sign(payload),
        "expired": grants(market).issue("notes", lobby, ttl=-1).token,
        "tampered": tampered(grants(market).issue("notes", lobby, ttl=60).token),
    }
    for reason, token in refused.items():
        async with storage_client(market, token) as client:
            for method, path, body in [
                ("GET", "values?key=k", None),
                ("PUT", "values", {"key": "k", "value": 1}),
                ("DELETE", "values?key=k", None),
                ("POST", "counters", {"key": "k"}),
                ("GET", "keys", None),
            ]:
                answer = await client.request(method, path, json=body)
                assert answer.status_code == 401, (reason, method, path, answer.text)
    assert grants(market).verify(grants(market).issue("notes", lobby, ttl=60).token).module == (
        "notes"
    )


async def test_lambda_and_openwhisk_modules_store_through_the_host_api_too(
    market: Market,
) -> None:
    """The serverless adapters bind each invocation to the request's host access (called in a
    thread, as their platforms call them synchronously)."""
    lobby = await market.lobby()
    access = grants(market).issue("notes", lobby, ttl=60)
    request = module_request("visit", community=lobby).model_copy(update={"host": access})
    as_lambda = lambda_handler(notes)
    as_action = openwhisk_action(notes)
    payload = request.model_dump(mode="json")
    first = await asyncio.to_thread(as_lambda, payload)
    second = await asyncio.to_thread(as_action, payload)
    assert [a["text"] for a in first["actions"]] == ["alice: 1 of 1"]
    assert [a["text"] for a in second["actions"]] == ["alice: 2 of 2"]
    runtime = market.bot.app.state.runtime
    stored = ModuleStorage(DatabaseDataStore(runtime.db, runtime.backend.kv), "notes", lobby)
    assert await stored.get("visits") == 2

    expired = request.model_copy(
        update={"host": grants(market).issue("notes", lobby, ttl=-1)}
    ).model_dump(mode="json")
    refused = await asyncio.to_thread(as_action, expired)
    assert "401" in refused["error"]  # a failed execution, never data in the wrong place
