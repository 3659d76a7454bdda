"""``ModuleStorage`` over the in-memory fallback a remote module gets without a host URL:
the same API, limits and scopes as the router's database store (tested in
tests/kernel/storage/test_module_store.py), and ``ctx.user_storage``."""

from __future__ import annotations

import asyncio

import pytest

from tests.module_support import module_request
from waddlebot.kernel.contracts import ChatAction
from waddlebot.sdk import CommandError, Context, Module
from waddlebot.sdk.remote import RemoteHost
from waddlebot.sdk.storage import MAX_KEYS, MemoryDataStore, ModuleStorage, StorageRefused
from waddlebot.sdk.testing import ModuleHarness


def memory(community: str = "c1") -> ModuleStorage:
    return ModuleStorage(MemoryDataStore(), "notes", community)


async def test_get_set_delete_incr_keys() -> None:
    store = memory()
    assert await store.get("k", 7) == 7
    await store.set("k", {"a": 1})
    assert await store.get("k") == {"a": 1}
    assert await store.incr("n") == 1 and await store.incr("n", 9) == 10
    await store.set("quote:1", "x")
    assert await store.keys() == ["k", "n", "quote:1"]
    assert await store.keys("quote:") == ["quote:1"]
    assert await store.delete("k") is True and await store.delete("k") is False


async def test_limits_and_expiry() -> None:
    store = memory()
    with pytest.raises(StorageRefused, match="1 to 200 characters"):
        await store.set("", 1)
    with pytest.raises(StorageRefused, match="64 KiB"):
        await store.set("big", "x" * 65_536)
    with pytest.raises(StorageRefused, match="whole numbers"):
        await store.incr("n", True)
    await store.set("word", "w")
    with pytest.raises(StorageRefused, match="does not hold a whole number"):
        await store.incr("word")
    with pytest.raises(StorageRefused, match="user ids are 1 to 200"):
        store.for_user("")
    await store.set("brief", 1, ttl=0.05)
    await asyncio.sleep(0.1)
    assert await store.get("brief") is None and "brief" not in await store.keys()


async def test_key_count_limit_counts_user_scopes() -> None:
    store = memory()
    for n in range(MAX_KEYS - 1):
        await store.set(f"k{n}", n)
    await store.for_user("twitch:1").set("k", 1)
    with pytest.raises(StorageRefused, match="10,000 keys"):
        await store.set("more", 1)
    await store.set("k1", "replaced")
    await memory("c2").set("more", 1)  # another store, another community: unaffected


guests = Module("guests")


@guests.command("visit")
async def visit(ctx: Context) -> None:
    mine = await ctx.user_storage.incr("visits")
    total = await ctx.storage.incr("visits")
    ctx.reply(f"{mine}/{total}")


async def test_user_storage_is_per_platform_account_and_needs_a_user() -> None:
    host = RemoteHost()
    alice = module_request("visit")
    bob = alice.model_copy(
        update={"user": alice.user.model_copy(update={"id": "u2"})}  # type: ignore[union-attr]
    )
    replies = []
    for request in (alice, bob, alice):
        response = await guests.handle(request, host)
        replies += [a.text for a in response.actions if isinstance(a, ChatAction)]
    assert replies == ["1/1", "1/2", "2/3"]
    assert await host.storage("guests", "c1").for_user("playground:u1").get("visits") == 2

    nobody = Context(alice.model_copy(update={"user": None}), host, module="guests")
    with pytest.raises(CommandError, match="cannot tell who you are"):
        _ = nobody.user_storage


hoarder = Module("hoarder")


@hoarder.command("keep")
async def keep(ctx: Context, key: str, size: int = 1) -> None:
    await ctx.storage.set(key, "x" * size)
    ctx.reply(f"kept {len(await ctx.storage.keys())}")


async def test_an_in_process_module_over_a_limit_answers_with_the_reason() -> None:
    async with ModuleHarness(hoarder) as bot:
        assert await bot.reply("!keep a 10") == "kept 1"
        assert await bot.reply("!keep b 70000") == "Storage values are at most 64 KiB as JSON."
        assert await bot.reply(f"!keep {'k' * 201}") == "Storage keys are 1 to 200 characters."
        assert await (await bot.storage(hoarder)).keys() == ["a"]
