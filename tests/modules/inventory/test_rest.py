"""``/api/inventory/v1`` on both stacks: items CRUD with labels, grants, holdings, history
with paging and filters, who may read and who may change, and that chat sees REST changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.communities.helpers import bearer, chatter, community_of, key_for, person, set_role
from tests.support import LiveServer, live_server
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.kernel.settings import Settings
from waddlebot.marketplace.catalogue import Catalogue
from waddlebot.marketplace.models import ModuleInstall
from waddlebot.modules.core import module as core
from waddlebot.modules.inventory import module as inventory
from waddlebot.modules.labels import module as labels
from waddlebot.router.service import RouterService

API = "/api/inventory/v1"


@asynccontextmanager
async def inventory_bot(settings: Settings) -> AsyncIterator[LiveServer]:
    app = create_app(
        settings,
        instances=[RouterService(modules=[core, labels, inventory]), PlaygroundService()],
    )
    async with live_server(app) as bot:
        yield bot


async def test_items_grants_holdings_and_history(stack_settings: Settings) -> None:
    async with inventory_bot(stack_settings) as bot:
        community = await community_of(bot)
        base = f"{API}/communities/{community}"
        admin = await chatter(bot, "ada")
        bob = await chatter(bot, "bob")
        await set_role(bot, community, admin, "admin")
        as_admin = bearer(await key_for(bot, admin))
        await bot.texts("!label create rare", user="streamer", role="broadcaster")

        created = await bot.client.post(
            f"{base}/items",
            json={"name": "Golden Egg", "description": "shiny", "stock": 3, "labels": ["rare"]},
            headers=as_admin,
        )
        assert created.status_code == 201, created.text
        egg = created.json()
        assert (egg["name"], egg["stock"], egg["stock_left"], egg["held"], egg["labels"]) == (
            "Golden Egg",
            3,
            3,
            0,
            ["rare"],
        )
        assert egg["created_by"] == admin
        coin = await bot.client.post(f"{base}/items", json={"name": "Coin"}, headers=as_admin)
        assert coin.status_code == 201 and coin.json()["stock"] is None

        for payload, code, detail in (
            ({"name": "golden egg"}, 409, "already an item called golden egg"),
            ({"name": "Gem", "labels": ["nope"]}, 404, "There is no label nope here."),
            ({"name": "Gem", "stock": -1}, 422, ""),
            ({"name": ""}, 422, ""),
            ({"name": "   "}, 422, "An item needs a name."),
            ({"name": "Gem", "extra": 1}, 422, ""),
        ):
            refused = await bot.client.post(f"{base}/items", json=payload, headers=as_admin)
            assert refused.status_code == code, (payload, refused.text)
            assert detail in str(refused.json()["detail"])
        assert len((await bot.client.get(f"{base}/items", headers=as_admin)).json()) == 2
        rare = await bot.client.get(f"{base}/items", params={"label": "rare"}, headers=as_admin)
        assert [item["name"] for item in rare.json()] == ["Golden Egg"]

        # grants: give out of stock, take back, refusals with their status
        given = await bot.client.post(
            f"{base}/grants",
            json={"user": bob, "item": egg["id"], "quantity": 2, "reason": "won the raffle"},
            headers=as_admin,
        )
        assert given.status_code == 200, given.text
        assert given.json() == {"item": "Golden Egg", "quantity": 2, "held": 2, "stock_left": 1}
        for payload, code, detail in (
            ({"user": bob, "item": "Golden Egg", "quantity": 2}, 409, "Only 1 Golden Egg left"),
            ({"user": bob, "item": "Gem"}, 404, "There is no item called Gem here."),
            ({"user": "nobody", "item": "Coin"}, 404, "User nobody does not exist."),
            ({"user": bob, "item": "Coin", "quantity": 0}, 422, ""),
            ({"user": bob, "item": "Coin", "action": "steal"}, 422, ""),
            ({"user": bob, "item": "Coin", "action": "take"}, 409, "has only 0 Coin"),
        ):
            refused = await bot.client.post(f"{base}/grants", json=payload, headers=as_admin)
            assert refused.status_code == code, (payload, refused.text)
            assert detail in str(refused.json()["detail"])
        taken = await bot.client.post(
            f"{base}/grants",
            json={"action": "take", "user": bob, "item": "golden egg", "reason": "cheated"},
            headers=as_admin,
        )
        assert taken.json() == {"item": "Golden Egg", "quantity": 1, "held": 1, "stock_left": 2}
        assert await bot.texts("!inv", user="bob") == ["Your items: Golden Egg ×1"]

        holdings = await bot.client.get(f"{base}/holdings", params={"user": bob}, headers=as_admin)
        assert [(h["item"], h["quantity"]) for h in holdings.json()] == [("Golden Egg", 1)]
        mine = await bot.client.get(f"{base}/users/{bob}/holdings", headers=as_admin)
        assert mine.json() == holdings.json()
        by_item = await bot.client.get(
            f"{base}/holdings", params={"item": "Coin"}, headers=as_admin
        )
        assert by_item.json() == []

        # PATCH: stock below what is held is refused; null means unlimited
        low = await bot.client.patch(
            f"{base}/items/{egg['id']}", json={"stock": 0}, headers=as_admin
        )
        assert low.status_code == 409 and "People hold 1 Golden Egg" in low.json()["detail"]
        patched = await bot.client.patch(
            f"{base}/items/Golden%20Egg",
            json={"stock": 5, "description": "very shiny", "labels": []},
            headers=as_admin,
        )
        assert patched.status_code == 200, patched.text
        body = patched.json()
        assert (body["stock"], body["stock_left"], body["description"], body["labels"]) == (
            5,
            4,
            "very shiny",
            [],
        )
        unlimited = await bot.client.patch(
            f"{base}/items/{egg['id']}", json={"stock": None, "name": "Egg"}, headers=as_admin
        )
        assert (unlimited.json()["stock"], unlimited.json()["name"]) == (None, "Egg")
        empty = await bot.client.patch(f"{base}/items/Egg", json={}, headers=as_admin)
        assert empty.status_code == 422 and "nothing to change" in empty.json()["detail"]
        taken_name = await bot.client.patch(
            f"{base}/items/Egg", json={"name": "coin"}, headers=as_admin
        )
        assert taken_name.status_code == 409
        assert (await bot.client.get(f"{base}/items/nope", headers=as_admin)).status_code == 404

        # history: newest first, filtered by user or item, paged
        page = await bot.client.get(f"{base}/history", params={"limit": 3}, headers=as_admin)
        assert page.status_code == 200
        first = page.json()
        assert [e["action"] for e in first["entries"]] == ["update", "update", "take"]
        assert first["next_offset"] == 3
        rest = await bot.client.get(
            f"{base}/history", params={"limit": 50, "offset": 3}, headers=as_admin
        )
        assert [e["action"] for e in rest.json()["entries"]] == ["give", "create", "create"]
        assert rest.json()["next_offset"] is None
        bobs = (
            await bot.client.get(f"{base}/history", params={"user": bob}, headers=as_admin)
        ).json()["entries"]
        assert [(e["action"], e["from_user"], e["to_user"], e["reason"]) for e in bobs] == [
            ("take", bob, None, "cheated"),
            ("give", None, bob, "won the raffle"),
        ]
        assert all(e["actor"] == admin for e in bobs)
        coins = (
            await bot.client.get(f"{base}/history", params={"item": "coin"}, headers=as_admin)
        ).json()["entries"]
        assert [e["action"] for e in coins] == ["create"]
        bad = await bot.client.get(f"{base}/history", params={"limit": 0}, headers=as_admin)
        assert bad.status_code == 422

        deleted = await bot.client.delete(f"{base}/items/Egg", headers=as_admin)
        assert deleted.status_code == 204
        assert (await bot.client.delete(f"{base}/items/Egg", headers=as_admin)).status_code == 404
        assert await bot.texts("!inv", user="bob") == ["You have no items yet."]
        gone = (
            await bot.client.get(f"{base}/history", params={"item": "egg"}, headers=as_admin)
        ).json()["entries"]
        assert gone[0]["action"] == "remove" and gone[0]["quantity"] == 1


async def test_who_may_read_and_change(stack_settings: Settings) -> None:
    async with inventory_bot(stack_settings) as bot:
        community = await community_of(bot)
        base = f"{API}/communities/{community}"
        member = await chatter(bot, "mem")
        await set_role(bot, community, member, "member")
        moderator = await chatter(bot, "mo")
        await set_role(bot, community, moderator, "moderator")
        as_member = bearer(await key_for(bot, member))
        as_moderator = bearer(await key_for(bot, moderator))
        as_stranger = bearer(await key_for(bot, await person(bot, "stranger")))
        as_operator = bearer(await key_for(bot, None))

        created = await bot.client.post(f"{base}/items", json={"name": "Coin"}, headers=as_operator)
        assert created.status_code == 201, created.text
        for headers in (as_member, as_moderator):
            assert (await bot.client.get(f"{base}/items", headers=headers)).status_code == 200
            assert (await bot.client.get(f"{base}/history", headers=headers)).status_code == 200
            for method, path, body in (
                ("POST", "/items", {"name": "Gem"}),
                ("PATCH", "/items/Coin", {"description": "x"}),
                ("DELETE", "/items/Coin", None),
                ("POST", "/grants", {"user": member, "item": "Coin"}),
            ):
                refused = await bot.client.request(
                    method, f"{base}{path}", json=body, headers=headers
                )
                assert refused.status_code == 403, (method, path, refused.text)
        assert (await bot.client.get(f"{base}/items", headers=as_stranger)).status_code == 403
        assert (await bot.client.get(f"{base}/items")).status_code == 401


async def test_configured_commands_sync_over_rest(stack_settings: Settings) -> None:
    async with inventory_bot(stack_settings) as bot:
        community = await community_of(bot)
        base = f"{API}/communities/{community}"
        as_operator = bearer(await key_for(bot, None))
        await bot.client.post(f"{base}/items", json={"name": "Coin"}, headers=as_operator)
        nothing = await bot.client.post(f"{base}/commands/sync", headers=as_operator)
        assert nothing.status_code == 200, nothing.text
        assert nothing.json() == {"answering": [], "added": [], "removed": [], "refused": {}}

        runtime = bot.app.state.runtime
        await Catalogue(runtime.db, runtime.backend).sync_builtins([inventory])
        config = {"commands": {"!daily": {"item": "Coin", "quantity": 2}, "help": {"item": "x"}}}
        async with runtime.db.session() as session:
            session.add(
                ModuleInstall(
                    community_id=community,
                    module_name="inventory",
                    version=inventory.version,
                    config=config,
                )
            )
        synced = await bot.client.post(f"{base}/commands/sync", headers=as_operator)
        assert synced.json() == {
            "answering": ["daily"],
            "added": ["daily"],
            "removed": [],
            "refused": {"help": "core"},
        }
        await chatter(bot, "zed")
        assert await bot.texts("!daily", user="zed") == ["zed got 2 Coin (now 2)."]
        assert await bot.texts("!daily", user="zed") == ["zed got 2 Coin (now 4)."]
