"""Host services a module with its own data relies on: the database, its REST routes mounted at
``/api/<module>/v1`` behind the community checks, kernel refusals as chat replies, people by
``@name``, labels on the module's own items, and hooks that follow identity merges."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from waddlebot.kernel.errors import NotFound
from waddlebot.kernel.security.api_keys import create_api_key
from waddlebot.kernel.storage import merges
from waddlebot.kernel.storage.models import Entity
from waddlebot.modules.labels import module as labels_module
from waddlebot.sdk import Context, Module
from waddlebot.sdk.database import on_user_merge
from waddlebot.sdk.testing import ModuleHarness
from waddlebot.sdk.web import Principal, Reader, actor, database, needs

probe = Module("probe", description="exercises the host services")


@probe.command("channels")
async def channels(ctx: Context) -> None:
    async with ctx.database.read_session() as session:
        count = await session.scalar(select(func.count()).select_from(Entity))
    ctx.reply(f"{count} channel(s) on {ctx.database.dialect}")


@probe.command("missing")
async def missing(ctx: Context) -> None:
    raise NotFound("Quote #7 does not exist.")


@probe.command("who")
async def who(ctx: Context, name: str) -> None:
    found = await ctx.find_user(name)
    mine = await ctx.user_id()
    ctx.reply(f"{found.username} is {'you' if found.user_id == mine else 'someone else'}")


@probe.command("tag")
async def tag(ctx: Context, label: str, item: str) -> None:
    labels = ctx.host.labels()
    assert labels is not None
    name = await labels.label_item(ctx.community_id, label, f"thing:{item}")
    tagged = await labels.items_labelled(ctx.community_id, label, "thing:")
    on_it = await labels.item_labels(ctx.community_id, [f"thing:{item}", "thing:none"])
    ctx.reply(f"{name}: {','.join(tagged)} {on_it}")


@probe.command("seal")
async def seal(ctx: Context, text: str) -> None:
    box = ctx.host.secrets()
    assert box is not None
    sealed = box.seal(text)
    ctx.reply(f"{text not in sealed} {box.unseal(sealed)}")


api = probe.api()


@api.get("/communities/{community_id}/channels")
async def rest_channels(community_id: str, request: Request, _: Reader) -> dict[str, int]:
    async with database(request).read_session() as session:
        count = await session.scalar(
            select(func.count()).select_from(Entity).where(Entity.community_id == community_id)
        )
    return {"channels": int(count or 0)}


@api.post("/communities/{community_id}/things")
async def rest_things(
    community_id: str, principal: Annotated[Principal, needs("labels.manage")]
) -> dict[str, str]:
    raise NotFound(f"nothing to make for {actor(principal)}")


async def test_a_module_reads_the_database_and_refusals_become_replies() -> None:
    async with ModuleHarness(probe) as bot:
        assert await bot.reply("!channels") == "1 channel(s) on sqlite"
        assert await bot.reply("!missing") == "Quote #7 does not exist."
        assert await bot.reply("!seal hunter2") == "True hunter2"
        await bot.say("hello", user="bob")
        assert await bot.reply("!who @Bob", user="alice") == "bob is someone else"
        assert await bot.reply("!who alice", user="alice") == "alice is you"
        assert await bot.reply("!who @nobody", user="alice") == "I don't know nobody here yet."


async def test_labels_on_a_modules_items() -> None:
    async with ModuleHarness(probe, labels_module) as bot:
        assert await bot.reply("!label create funny", user="boss", role="broadcaster") != ""
        assert await bot.reply("!tag funny 1") == (
            "funny: thing:1 {'thing:1': ['funny'], 'thing:none': []}"
        )
        assert await bot.reply("!tag sad 2") == "no label 'sad' in this community"


async def test_module_routes_are_mounted_behind_the_community_checks() -> None:
    async with ModuleHarness(probe) as bot:
        community = await bot.community_id()
        assert bot.client is not None
        url = f"/api/probe/v1/communities/{community}/channels"
        assert (await bot.client.get(url)).status_code == 401
        key, _ = await create_api_key(bot.runtime.db, name="ops", scopes=["communities:read"])
        answer = await bot.client.get(url, headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"channels": 1}
        write = await bot.client.post(
            f"/api/probe/v1/communities/{community}/things",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert write.status_code == 403  # lacks communities:write


async def test_merge_hooks_run_once_per_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str]] = []

    async def follow(session: AsyncSession, absorbed: str, kept: str) -> None:
        seen.append((absorbed, kept))

    monkeypatch.setattr(merges, "_HOOKS", {})  # only this test's hook
    on_user_merge(follow)
    on_user_merge(follow)  # a re-import registers the same hook again
    await merges.run_merge_hooks(None, "old", "new")  # type: ignore[arg-type]
    assert seen == [("old", "new")]
