"""``/api/labels/v1`` over real HTTP on both stacks: CRUD, validation, auth, assignments,
bulk, search, expiry, and a label granting ``labels.manage`` to a person's API key."""

from __future__ import annotations

import asyncio
import time

import structlog

from tests.labels.helpers import (
    API,
    bearer,
    community_of,
    entity_of,
    key_for,
    label_bot,
    person,
    set_role,
)
from waddlebot.kernel.security.rbac import Authorizer
from waddlebot.kernel.settings import Settings

# seconds bob's label lasts: long enough that a slow machine still sees it before it expires
BOB_LASTS = 3


async def test_label_crud_and_validation(stack_settings: Settings) -> None:
    async with label_bot(stack_settings) as bot:
        community = await community_of(bot)
        auth = bearer(await key_for(bot, None))
        base = f"{API}/{community}/labels"
        made = await bot.client.post(
            base,
            json={"name": "VIP", "colour": "#ff00aa", "permissions": ["calendar.autoapprove"]},
            headers=auth,
        )
        assert made.status_code == 201, made.text
        assert made.json()["colour"] == "#FF00AA"
        duplicate = await bot.client.post(base, json={"name": "vip"}, headers=auth)
        assert (duplicate.status_code, duplicate.json()["detail"]) == (
            409,
            "a label named 'VIP' already exists here",
        )
        for body, status, words in [
            ({"name": "bad!"}, 422, "letters, digits"),
            ({"name": "ok", "colour": "blue"}, 422, "#RRGGBB"),
            ({"name": "ok", "permissions": ["fly"]}, 422, "unknown permission"),
            ({"name": "ok", "extra": 1}, 422, "Extra inputs"),
        ]:
            answer = await bot.client.post(base, json=body, headers=auth)
            assert answer.status_code == status, answer.text
            assert words in str(answer.json()["detail"])
        listed = await bot.client.get(base, headers=auth)
        assert [label["name"] for label in listed.json()] == ["VIP"]
        patched = await bot.client.patch(
            f"{base}/vip", json={"name": "Gold", "description": "top"}, headers=auth
        )
        assert (patched.status_code, patched.json()["name"]) == (200, "Gold")
        assert (await bot.client.get(f"{base}/gold", headers=auth)).json()["description"] == "top"
        assert (await bot.client.get(f"{base}/nope", headers=auth)).status_code == 404
        unknown = await bot.client.get(f"{API}/nope/labels", headers=auth)
        assert (unknown.status_code, unknown.json()["detail"]) == (404, "no community 'nope'")
        system = await bot.client.post(base, json={"name": "staff", "system": True}, headers=auth)
        assert system.status_code == 201
        refused = await bot.client.delete(f"{base}/staff", headers=auth)
        assert (refused.status_code, refused.json()["detail"]) == (
            403,
            "'staff' is a system label; it cannot be deleted",
        )
        assert (await bot.client.delete(f"{base}/gold", headers=auth)).status_code == 204
        assert (await bot.client.get(f"{base}/gold", headers=auth)).status_code == 404


async def test_assignments_bulk_search_and_expiry(stack_settings: Settings) -> None:
    async with label_bot(stack_settings) as bot:
        community = await community_of(bot)
        entity = await entity_of(bot)
        ann, bob = await person(bot, "ann"), await person(bot, "bob")
        auth = bearer(await key_for(bot, None))
        base = f"{API}/{community}"
        for name in ("red", "blue"):
            made = await bot.client.post(f"{base}/labels", json={"name": name}, headers=auth)
            assert made.status_code == 201, made.text
        applied = await bot.client.post(
            f"{base}/labels/red/assignments",
            json={
                "targets": [
                    {"target_type": "user", "target_id": ann},
                    {"target_type": "entity", "target_id": entity},
                    {"target_type": "module", "target_id": "dice"},
                ],
                "metadata": {"note": "launch"},
            },
            headers=auth,
        )
        assert applied.status_code == 200, applied.text
        assert {a["target_type"] for a in applied.json()} == {"user", "entity", "module"}
        # a bad target spoils the whole request
        ghost = await bot.client.post(
            f"{base}/labels/blue/assignments",
            json={
                "targets": [
                    {"target_type": "user", "target_id": bob},
                    {"target_type": "user", "target_id": "ghost"},
                ]
            },
            headers=auth,
        )
        assert (ghost.status_code, ghost.json()["detail"]) == (404, "no user 'ghost'")
        bulk = await bot.client.post(
            f"{base}/assignments:bulk",
            json={
                "operations": [
                    {"op": "apply", "label": "blue", "target_type": "user", "target_id": ann},
                    {
                        "op": "apply",
                        "label": "blue",
                        "target_type": "user",
                        "target_id": bob,
                        "expires_in": 1,
                    },
                    {"op": "remove", "label": "red", "target_type": "module", "target_id": "nope"},
                ]
            },
            headers=auth,
        )
        assert bulk.status_code == 404, bulk.text
        blue = await bot.client.get(f"{base}/labels/blue/assignments", headers=auth)
        assert blue.json()["total"] == 0
        applied = time.monotonic()
        bulk = await bot.client.post(
            f"{base}/assignments:bulk",
            json={
                "operations": [
                    {"op": "apply", "label": "blue", "target_type": "user", "target_id": ann},
                    {
                        "op": "apply",
                        "label": "blue",
                        "target_type": "user",
                        "target_id": bob,
                        "expires_in": BOB_LASTS,
                    },
                    {"op": "remove", "label": "red", "target_type": "module", "target_id": "dice"},
                ]
            },
            headers=auth,
        )
        assert bulk.status_code == 200, bulk.text
        users = await bot.client.get(
            f"{base}/labels/red/assignments", params={"target_type": "user"}, headers=auth
        )
        assert [(a["target_id"], a["metadata"]) for a in users.json()["items"]] == [
            (ann, {"note": "launch"})
        ]
        found = await bot.client.get(
            f"{base}/search", params={"label": ["red", "blue"], "match": "all"}, headers=auth
        )
        assert [(m["target_id"], m["labels"]) for m in found.json()["items"]] == [
            (ann, ["blue", "red"])
        ]
        worn = await bot.client.get(f"{base}/targets/user/{bob}/labels", headers=auth)
        assert [a["label"] for a in worn.json()] == ["blue"]
        await asyncio.sleep(max(0.0, applied + BOB_LASTS + 0.2 - time.monotonic()))
        worn = await bot.client.get(f"{base}/targets/user/{bob}/labels", headers=auth)
        assert worn.json() == []
        blue = await bot.client.get(f"{base}/labels/blue/assignments", headers=auth)
        assert [a["target_id"] for a in blue.json()["items"]] == [ann]
        removed = await bot.client.request(
            "DELETE",
            f"{base}/labels/red/assignments",
            json={"targets": [{"target_type": "entity", "target_id": entity}]},
            headers=auth,
        )
        assert (removed.status_code, len(removed.json())) == (200, 1)
        for params in ({"expires_in": -5}, {"expires_at": "2001-01-01T00:00:00Z"}):
            bad = await bot.client.post(
                f"{base}/labels/red/assignments",
                json={"targets": [{"target_type": "item", "target_id": "x"}], **params},
                headers=auth,
            )
            assert bad.status_code == 422, bad.text
        bad_type = await bot.client.get(f"{base}/targets/planet/x/labels", headers=auth)
        assert bad_type.status_code == 422


async def test_limits_are_configurable(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"labels_per_community": 2, "labels_per_user": 1})
    async with label_bot(settings) as bot:
        community = await community_of(bot)
        ann = await person(bot, "ann")
        auth = bearer(await key_for(bot, None))
        base = f"{API}/{community}"
        for name in ("a", "b"):
            await bot.client.post(f"{base}/labels", json={"name": name}, headers=auth)
        full = await bot.client.post(f"{base}/labels", json={"name": "c"}, headers=auth)
        assert (full.status_code, full.json()["detail"]) == (
            409,
            "this community already has the maximum of 2 labels",
        )
        target = {"targets": [{"target_type": "user", "target_id": ann}]}
        ok = await bot.client.post(f"{base}/labels/a/assignments", json=target, headers=auth)
        assert ok.status_code == 200
        over = await bot.client.post(f"{base}/labels/b/assignments", json=target, headers=auth)
        assert over.status_code == 409
        assert "maximum of 1 labels" in over.json()["detail"]


async def test_people_need_scopes_roles_and_labels_manage(stack_settings: Settings) -> None:
    async with label_bot(stack_settings) as bot:
        community = await community_of(bot)
        member, stranger = await person(bot, "member"), await person(bot, "stranger")
        await set_role(bot, community, member, "member")
        operator = bearer(await key_for(bot, None))
        base = f"{API}/{community}"
        await bot.client.post(
            f"{base}/labels",
            json={"name": "trusted", "permissions": ["labels.manage"]},
            headers=operator,
        )
        await bot.client.post(f"{base}/labels", json={"name": "fan"}, headers=operator)
        assert (await bot.client.get(f"{base}/labels")).status_code == 401
        read_only = bearer(await key_for(bot, member, ["labels:read"]))
        assert (await bot.client.get(f"{base}/labels", headers=read_only)).status_code == 200
        scoped = await bot.client.post(f"{base}/labels", json={"name": "x"}, headers=read_only)
        assert scoped.status_code == 403
        outsider = bearer(await key_for(bot, stranger))
        denied = await bot.client.get(f"{base}/labels", headers=outsider)
        assert (denied.status_code, denied.json()["detail"]) == (
            403,
            "you have no role in this community",
        )
        mine = bearer(await key_for(bot, member))
        apply_fan = f"{base}/labels/fan/assignments"
        body = {"targets": [{"target_type": "user", "target_id": stranger}]}
        with structlog.testing.capture_logs() as logs:
            refused = await bot.client.post(apply_fan, json=body, headers=mine)
        assert (refused.status_code, refused.json()["detail"]) == (
            403,
            "you need the 'labels.manage' permission in this community",
        )
        [decision] = [
            e for e in logs if e.get("category") == "AUTHZ" and e["action"] == f"POST {apply_fan}"
        ]
        assert (decision["result"], decision["user"], decision["reason"]) == (
            "denied",
            member,
            "needs labels.manage",
        )
        # the "trusted" label grants labels.manage: the member's own key now may apply labels
        granted = await bot.client.post(
            f"{base}/labels/trusted/assignments",
            json={"targets": [{"target_type": "user", "target_id": member}]},
            headers=operator,
        )
        assert granted.status_code == 200, granted.text
        runtime = bot.app.state.runtime
        access = await Authorizer(runtime.db, runtime.backend.kv).access(community, member)
        assert access.labels == ("trusted",)
        with structlog.testing.capture_logs() as logs:
            allowed = await bot.client.post(apply_fan, json=body, headers=mine)
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()[0]["created_by"] == member
        [decision] = [
            e for e in logs if e.get("category") == "AUTHZ" and e["action"] == f"POST {apply_fan}"
        ]
        assert decision["result"] == "allowed"
        [audit] = [e for e in logs if e.get("category") == "AUDIT"]
        assert (audit["action"], audit["user"], audit["target"]) == (
            "label_applied",
            member,
            stranger,
        )
        # people may not create system labels, even with labels.manage
        system = await bot.client.post(
            f"{base}/labels", json={"name": "sys", "system": True}, headers=mine
        )
        assert system.status_code == 403
