"""The marketplace end to end over real HTTP: publish → browse/search → install with config →
the command works in chat at once → disable → enable → uninstall → trigger conflicts.

The module is the example ``dice`` module served by the SDK's HTTP adapter on loopback, signed
with the secret the marketplace handed out at publish time. Runs on SQLite + in-memory and on
PostgreSQL + Redis."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from examples.dice.dice import module as dice

from tests.marketplace.conftest import API, Market
from tests.support import free_port, serve_asgi
from waddlebot.modules import builtin_modules
from waddlebot.sdk.adapters import http_app

EXAMPLE = Path(__file__).parents[2] / "examples" / "dice" / "manifest.json"


def dice_manifest(port: int, **changes: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(EXAMPLE.read_text())
    manifest["endpoint"] = f"http://127.0.0.1:{port}/"
    manifest.update(changes)
    return manifest


async def test_publish_browse_install_use_disable_uninstall(market: Market) -> None:
    port = free_port()
    published = await market.publish(dice_manifest(port))
    assert published.status_code == 201, published.text
    secret = published.json()["signing_secret"]
    assert secret.startswith("wbm_")

    # browse, search, categories, details: the built-in core module is listed too
    names = [m["name"] for m in (await market.get(f"{API}/modules")).json()]
    builtins = [m.name for m in builtin_modules()]
    assert {"aliases", "core", "custom-commands", "memories", "timers"} <= set(builtins)
    assert names == sorted([*builtins, "dice"])
    found = (await market.get(f"{API}/modules", q="coin flips")).json()
    assert [m["name"] for m in found] == ["dice"]
    assert found[0]["commands"] == ["!roll", "!flip", "!dice"]
    assert (await market.get(f"{API}/modules", q="nothing-like-it")).json() == []
    games = (await market.get(f"{API}/modules", category="games")).json()
    assert [m["name"] for m in games] == ["dice"]
    categories = (await market.get(f"{API}/categories")).json()
    assert {"name": "games", "modules": 1} in categories
    # built-ins without categories of their own are listed as built-in, as is any that says so
    listed = [m for m in builtin_modules() if not m.categories or "built-in" in m.categories]
    assert {"name": "built-in", "modules": len(listed)} in categories
    details = (await market.get(f"{API}/modules/dice")).json()
    assert details["versions"] == ["1.0.0"] and details["manifest"]["runtime"] == "http"
    core = (await market.get(f"{API}/modules/core")).json()
    assert core["builtin"] is True and "!ping" in core["commands"]
    assert (await market.get(f"{API}/modules/nope")).status_code == 404

    community = await market.lobby()
    assert (await market.bot.say("!roll"))["status"] == "ignored"  # not installed yet

    # a bad configuration is refused with the schema's own words
    bad = await market.install(community, "dice", {"max_sides": 1})
    assert bad.status_code == 422
    detail = bad.json()["detail"]
    assert detail["message"] == (
        "invalid configuration for dice: 1 is less than the minimum of 2 (at /max_sides)"
    )
    assert detail["errors"] == [
        {"path": "/max_sides", "message": "1 is less than the minimum of 2"}
    ]
    extra = await market.install(community, "dice", {"colour": "red"})
    assert extra.status_code == 422 and "colour" in extra.json()["detail"]["message"]

    async with serve_asgi(http_app(dice, secret), port=port):
        installed = await market.install(community, "dice", {"max_sides": 20})
        assert installed.status_code == 200, installed.text
        assert installed.json()["commands"] == ["!roll", "!flip", "!dice"]

        # the command works at once, without a restart, with the community's config
        [rolled] = await market.bot.texts("!roll 20")
        assert re.fullmatch(r"alice rolled \d+ on d20\.", rolled)
        assert await market.bot.texts("!roll 50") == ["Dice here have 2 to 20 sides."]
        assert await market.bot.texts("!dice stats") == ["1 dice rolled in this community."]
        assert "!roll" in (await market.bot.texts("!help"))[0]
        assert (await market.bot.say("!roll", channel="elsewhere"))["status"] == "ignored"

        listed = await market.client.get(
            f"{API}/communities/{community}/modules", headers=market.installer
        )
        assert [(i["module"], i["enabled"]) for i in listed.json()] == [("dice", True)]

        disabled = await market.post(f"/communities/{community}/modules/dice/disable")
        assert disabled.status_code == 200 and disabled.json()["enabled"] is False
        body = await market.bot.say("!roll")
        assert body["status"] == "refused"
        assert body["replies"] == [
            {"type": "chat", "text": "@alice !roll is disabled in this community."}
        ]
        assert "!roll" not in (await market.bot.texts("!help"))[0]

        assert (await market.post(f"/communities/{community}/modules/dice/enable")).is_success
        assert await market.bot.texts("!roll 50") == ["Dice here have 2 to 20 sides."]

        removed = await market.client.delete(
            f"{API}/communities/{community}/modules/dice", headers=market.installer
        )
        assert removed.status_code == 204
        assert (await market.bot.say("!roll"))["status"] == "ignored"
        assert await market.bot.texts("!ping") == ["pong"]


async def test_trigger_conflicts_and_version_rules(market: Market) -> None:
    port = free_port()
    assert (await market.publish(dice_manifest(port))).status_code == 201
    again = await market.publish(dice_manifest(port))
    assert again.status_code == 409
    assert "versions are immutable" in again.json()["detail"]["message"]
    assert (await market.publish(dice_manifest(port, version="1.1.0"))).status_code == 201
    assert (await market.get(f"{API}/modules/dice")).json()["versions"] == [
        "1.0.0",
        "1.1.0",
    ]

    pinger = dice_manifest(
        port,
        name="pinger",
        commands=[{"trigger": "ping"}, {"trigger": "roll"}, {"trigger": "fresh"}],
        config_schema={},
    )
    assert (await market.publish(pinger)).status_code == 201
    community = await market.lobby()
    assert (await market.install(community, "dice", version="1.0.0")).status_code == 200

    clash = await market.install(community, "pinger")
    assert clash.status_code == 409
    detail = clash.json()["detail"]
    assert detail["conflicts"] == [
        {"command": "!ping", "module": "core"},
        {"command": "!roll", "module": "dice"},
    ]
    assert detail["message"].startswith(
        "pinger cannot be installed here: !ping (from core), !roll (from dice) already exist"
    )
    assert await market.bot.texts("!ping") == ["pong"]  # nothing changed

    # core is built in: not installable, and its name cannot be published
    assert (await market.install(community, "core")).status_code == 409
    builtin_name = await market.publish(dice_manifest(port, name="core"))
    assert builtin_name.status_code == 409
    assert (await market.install(community, "ghost")).status_code == 404
    assert (await market.install("no-such-community", "dice")).status_code == 404
    assert (await market.install(community, "dice", version="9.9.9")).status_code == 404


async def test_publishing_and_installing_need_their_scopes(market: Market) -> None:
    port = free_port()
    anonymous = await market.client.post(f"{API}/modules", json=dice_manifest(port))
    assert anonymous.status_code == 401
    assert (await market.client.get(f"{API}/modules")).status_code == 401  # browsing too
    assert (await market.client.get(f"{API}/categories")).status_code == 401
    wrong = await market.client.post(
        f"{API}/modules", json=dice_manifest(port), headers=market.installer
    )
    assert wrong.status_code == 403
    invalid = await market.publish(dice_manifest(port, runtime="builtin"))
    assert invalid.status_code == 422
    bad_schema = await market.publish(
        dice_manifest(port, config_schema={"type": "object", "properties": {"x": {"type": 5}}})
    )
    assert bad_schema.status_code == 422
    assert (await market.publish(dice_manifest(port))).status_code == 201
    community = await market.lobby()
    refused = await market.client.put(
        f"{API}/communities/{community}/modules/dice", json={}, headers=market.publisher
    )
    assert refused.status_code == 403
    lookup = await market.client.get(
        f"{API}/communities/lookup",
        params={"platform": "playground", "server_id": "playground", "channel_id": "lobby"},
        headers=market.installer,
    )
    assert lookup.json() == {"community_id": community}
