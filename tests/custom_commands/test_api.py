"""The custom-commands REST API on both stacks: CRUD, the checks chat uses, who may read
and who may change, and that a change is live in chat on the next message."""

from __future__ import annotations

from tests.communities.helpers import (
    API,
    bearer,
    chatter,
    community_bot,
    community_of,
    key_for,
    person,
    set_role,
)
from waddlebot.kernel.settings import Settings


async def test_crud_validation_and_chat(stack_settings: Settings) -> None:
    async with community_bot(stack_settings) as bot:
        community = await community_of(bot)
        base = f"{API}/communities/{community}/custom-commands"
        admin = await chatter(bot, "ada")
        await set_role(bot, community, admin, "admin")
        as_admin = bearer(await key_for(bot, admin))

        created = await bot.client.post(
            base,
            json={"name": "!Discord", "response": "hi {user}, #{count}", "cooldown": 5},
            headers=as_admin,
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["name"], body["role"], body["cooldown"], body["enabled"], body["count"]) == (
            "discord",
            "everyone",
            5.0,
            True,
            0,
        )
        assert body["created_by"] == admin
        assert await bot.texts("!discord", user="bob") == ["hi bob, #1"]

        listed = (await bot.client.get(base, headers=as_admin)).json()
        assert [(c["name"], c["count"]) for c in listed] == [("discord", 1)]
        one = await bot.client.get(f"{base}/discord", headers=as_admin)
        assert one.status_code == 200 and one.json()["response"] == "hi {user}, #{count}"

        changed = await bot.client.patch(
            f"{base}/discord",
            json={"role": "moderator", "response": "mods: {args}"},
            headers=as_admin,
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["role"] == "moderator"
        assert await bot.texts("!discord x", user="bob") == [
            "@bob !discord is for moderators and above."
        ]
        assert await bot.texts("!discord x y", user="mo", role="moderator") == ["mods: x y"]

        switched = await bot.client.patch(
            f"{base}/discord", json={"enabled": False}, headers=as_admin
        )
        assert switched.json()["enabled"] is False
        assert await bot.texts("!discord", user="mo", role="moderator") == [
            "@mo !discord is disabled in this community."
        ]

        # the same checks as chat, each with a clear 422 / 409 / 404
        for payload, status, detail in (
            (
                {"name": "bad", "response": "x {nope}"},
                422,
                "unknown variable {nope} (at character 3)",
            ),
            ({"name": "bad", "response": "x {time Mars/Base}"}, 422, "unknown time zone"),
            ({"name": "ba d", "response": "x"}, 422, "is not a command name"),
            ({"name": "bad", "response": "x", "role": "king"}, 422, "unknown role 'king'"),
            ({"name": "bad", "response": "x", "cooldown": -1}, 422, ""),
            ({"name": "bad", "response": "x", "extra": 1}, 422, ""),
            ({"name": "ping", "response": "x"}, 409, "already a command of the core module"),
            ({"name": "discord", "response": "x"}, 409, "already exists here"),
        ):
            refused = await bot.client.post(base, json=payload, headers=as_admin)
            assert refused.status_code == status, (payload, refused.text)
            assert detail in str(refused.json()["detail"]), refused.text
        empty = await bot.client.patch(f"{base}/discord", json={}, headers=as_admin)
        assert empty.status_code == 422 and "nothing to change" in empty.json()["detail"]
        missing = await bot.client.patch(f"{base}/nope", json={"response": "x"}, headers=as_admin)
        assert missing.status_code == 404
        unknown = await bot.client.get(f"{API}/communities/nope/custom-commands", headers=as_admin)
        assert unknown.status_code in (403, 404)

        deleted = await bot.client.delete(f"{base}/discord", headers=as_admin)
        assert deleted.status_code == 204
        assert (await bot.client.delete(f"{base}/discord", headers=as_admin)).status_code == 404
        assert (await bot.say("!discord", user="bob"))["status"] == "ignored"
        assert (await bot.client.get(base, headers=as_admin)).json() == []


async def test_who_may_read_and_change(stack_settings: Settings) -> None:
    async with community_bot(stack_settings) as bot:
        community = await community_of(bot)
        base = f"{API}/communities/{community}/custom-commands"
        member = await chatter(bot, "mem")
        await set_role(bot, community, member, "member")
        stranger = await person(bot, "stranger")
        as_member = bearer(await key_for(bot, member))
        as_member_reader = bearer(await key_for(bot, member, ["communities:read"]))
        as_stranger = bearer(await key_for(bot, stranger))
        operator = bearer(await key_for(bot, None))

        made = await bot.client.post(
            base, json={"name": "hi", "response": "hello"}, headers=operator
        )
        assert made.status_code == 201
        assert (await bot.client.get(base, headers=as_member)).status_code == 200
        refused = await bot.client.get(base, headers=as_stranger)
        assert refused.status_code == 403
        assert refused.json()["detail"] == "you have no role in this community"
        # a member may read but not change: commands.manage is for admins by default
        write = await bot.client.post(base, json={"name": "x", "response": "y"}, headers=as_member)
        assert write.status_code == 403 and "commands.manage" in write.json()["detail"]
        scope = await bot.client.delete(f"{base}/hi", headers=as_member_reader)
        assert scope.status_code == 403 and "communities:write" in scope.json()["detail"]
        assert (await bot.client.get(base)).status_code == 401
