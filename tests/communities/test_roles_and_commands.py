"""Community roles and commands end to end (both stacks): rank rules, the last owner, role
grant overrides, commands switched per community, reads and refusals of the API."""

from __future__ import annotations

import structlog

from tests.communities.helpers import (
    API,
    bearer,
    chatter,
    community_bot,
    community_of,
    key_for,
    person,
    role_in,
    set_role,
)
from waddlebot.kernel.security.rbac import DEFAULT_GRANTS
from waddlebot.kernel.settings import Settings


async def test_rank_rules_in_chat(stack_settings: Settings) -> None:
    async with community_bot(stack_settings) as bot:
        community = await community_of(bot)
        ada, bob, cy, owen = [await chatter(bot, n) for n in ("ada", "bob", "cy", "owen")]
        await set_role(bot, community, ada, "admin")
        await set_role(bot, community, owen, "owner")

        # an admin grants below admin only, and changes only people below admin
        assert await bot.texts("!role grant @bob moderator", user="ada") == [
            "bob is now moderator here."
        ]
        assert await bot.texts("!role grant bob admin", user="ada") == [
            "You can only grant roles below your own (admin)."
        ]
        assert await bot.texts("!role grant bob owner", user="ada") == [
            "You can only grant roles below your own (admin)."
        ]
        assert await bot.texts("!role revoke owen", user="ada") == [
            "You can only change members below your own role (admin)."
        ]
        assert await bot.texts("!role grant owen member", user="ada") == [
            "You can only change members below your own role (admin)."
        ]
        assert await role_in(bot, community, owen) == "owner"
        assert await bot.texts("!role grant nobody member", user="ada") == [
            "I don't know anyone called nobody here yet."
        ]
        assert await bot.texts("!role grant bob king", user="ada") == [
            "There is no role 'king'; choose from owner, admin, moderator, member."
        ]

        # the owner may do anything but leave the community ownerless
        assert await bot.texts("!role grant cy owner", user="owen") == ["cy is now owner here."]
        assert await bot.texts("!role revoke owen", user="cy") == [
            "owen no longer has a role here (was owner)."
        ]
        assert await bot.texts("!role revoke cy", user="cy") == [
            "The last owner of a community cannot be removed; make someone else owner first."
        ]
        assert await bot.texts("!role grant cy admin", user="cy") == [
            "The last owner of a community cannot be demoted; make someone else owner first."
        ]
        assert await role_in(bot, community, cy) == "owner"
        assert await bot.texts("!role revoke owen", user="cy") == ["owen has no role here."]

        # who holds what; show yourself and others
        assert await bot.texts("!role list", user="owen") == [
            "Owners: cy; Admins: ada; Moderators: bob."
        ]
        assert await bot.texts("!role show", user="bob") == ["Your role here: moderator."]
        assert await bot.texts("!role show @ADA", user="owen") == ["ada is admin here."]
        assert await bot.texts("!role show owen", user="bob") == ["owen has no role here."]
        assert await bot.texts("!role show", user="owen") == ["You have no role here."]
        assert bob  # resolved by name above


async def test_a_platform_broadcaster_acts_as_owner(stack_settings: Settings) -> None:
    async with community_bot(stack_settings) as bot:
        community = await community_of(bot)
        await chatter(bot, "bob")
        mod = await chatter(bot, "mod")
        assert await bot.texts("!role show", user="mod", role="moderator") == [
            "Your role here: moderator (from your platform role)."
        ]
        assert await bot.texts("!role grant bob admin", user="streamer", role="broadcaster") == [
            "bob is now admin here."
        ]
        # the first broadcaster to use a command claimed the unowned community
        streamer = await chatter(bot, "streamer")
        assert await role_in(bot, community, streamer) == "owner"
        # a platform moderator is only a moderator here: no members.manage by default
        assert await bot.texts("!role revoke bob", user="mod", role="moderator") == [
            "@mod !role revoke needs the members.manage permission here."
        ]
        assert await role_in(bot, community, mod) is None


async def test_disabling_takes_effect_on_the_next_message(stack_settings: Settings) -> None:
    async with community_bot(stack_settings) as bot:
        community = await community_of(bot)
        await community_of(bot, "elsewhere")
        admin = await chatter(bot, "ada")
        await set_role(bot, community, admin, "admin")

        assert await bot.texts("!command disable !ping", user="ada") == [
            "!ping is now disabled here."
        ]
        assert await bot.texts("!ping") == ["@alice !ping is disabled in this community."]
        assert await bot.texts("!ping", channel="elsewhere") == ["pong"]  # one community only
        assert await bot.texts("!command enable ping", user="ada") == ["!ping is now enabled here."]
        assert await bot.texts("!ping") == ["pong"]

        assert await bot.texts("!command disable command", user="ada") == [
            "!command can't be disabled from chat: !command and !role are how you turn things "
            "back on."
        ]
        assert await bot.texts("!command disable role", user="ada") == [
            "!role can't be disabled from chat: !command and !role are how you turn things back on."
        ]
        assert await bot.texts("!command disable nope", user="ada") == [
            "There is no command !nope here."
        ]
        assert await bot.texts("!command disable", user="ada") == ["Usage: !command disable <name>"]


async def test_a_role_grant_override_changes_the_outcome(stack_settings: Settings) -> None:
    async with community_bot(stack_settings) as bot:
        community = await community_of(bot)
        mod = await chatter(bot, "mod")
        await set_role(bot, community, mod, "moderator")
        owner = await person(bot, "owner")
        await set_role(bot, community, owner, "owner")
        headers = bearer(await key_for(bot, owner))
        refusal = "@mod !command needs the commands.manage permission here."

        assert await bot.texts("!command disable ping", user="mod") == [refusal]
        answer = await bot.client.put(
            f"{API}/communities/{community}/roles/moderator",
            json={"permissions": ["calendar.approve", "commands.manage"]},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "role": "moderator",
            "granted": ["calendar.approve", "commands.manage"],
            "effective": ["calendar.approve", "commands.manage"],
            "defaults": sorted(DEFAULT_GRANTS["moderator"]),
            "overridden": True,
        }
        assert await bot.texts("!command disable ping", user="mod") == [
            "!ping is now disabled here."
        ]

        roles = await bot.client.get(f"{API}/communities/{community}/roles", headers=headers)
        by_role = {r["role"]: r for r in roles.json()}
        assert by_role["admin"]["overridden"] is False
        assert "commands.manage" in by_role["admin"]["effective"]
        assert by_role["moderator"]["overridden"] is True
        assert by_role["owner"]["granted"] == by_role["owner"]["effective"]

        reset = await bot.client.delete(
            f"{API}/communities/{community}/roles/moderator", headers=headers
        )
        assert reset.status_code == 200 and reset.json()["granted"] == sorted(
            DEFAULT_GRANTS["moderator"]
        )
        assert await bot.texts("!command enable ping", user="mod") == [
            "@mod !command needs the commands.manage permission here."
        ]


async def test_rank_rules_and_the_last_owner_over_rest(stack_settings: Settings) -> None:
    async with community_bot(stack_settings) as bot:
        community = await community_of(bot)
        owner, admin, other, target = [
            await person(bot, n) for n in ("owner", "admin", "other", "target")
        ]
        await set_role(bot, community, owner, "owner")
        await set_role(bot, community, admin, "admin")
        await set_role(bot, community, other, "admin")
        as_owner = bearer(await key_for(bot, owner))
        as_admin = bearer(await key_for(bot, admin))
        members = f"{API}/communities/{community}/members"

        async def put(user: str, role: str, headers: dict[str, str]) -> tuple[int, object]:
            answer = await bot.client.put(f"{members}/{user}", json={"role": role}, headers=headers)
            return answer.status_code, answer.json()["detail" if answer.is_error else "role"]

        with structlog.testing.capture_logs() as logs:
            assert await put(target, "owner", as_admin) == (
                403,
                "You can only grant roles below your own (admin).",
            )
        [denied] = [e for e in logs if e.get("category") == "AUTHZ" and e["result"] == "denied"]
        assert (denied["community"], denied["user"], denied["action"], denied["target"]) == (
            community,
            admin,
            "member_role_set",
            target,
        )
        assert await put(owner, "member", as_admin) == (
            403,
            "You can only change members below your own role (admin).",
        )
        assert await put(other, "moderator", as_admin) == (
            403,
            "You can only change members below your own role (admin).",
        )
        removed = await bot.client.delete(f"{members}/{owner}", headers=as_admin)
        assert removed.status_code == 403
        assert await put(target, "moderator", as_admin) == (200, "moderator")

        # the last owner stays, even for installation-wide callers
        operator = bearer(await key_for(bot, None, ["admin"]))
        assert await put(owner, "admin", operator) == (
            409,
            "the last owner of a community cannot be demoted; make someone else owner first",
        )
        last = await bot.client.delete(f"{members}/{owner}", headers=as_owner)
        assert last.status_code == 409
        assert await put(target, "owner", as_owner) == (200, "owner")
        with structlog.testing.capture_logs() as logs:
            gone = await bot.client.delete(f"{members}/{owner}", headers=operator)
        assert gone.status_code == 204
        [audit] = [e for e in logs if e.get("category") == "AUDIT"]
        assert (audit["action"], audit["community"], audit["target"], audit["previous"]) == (
            "member_removed",
            community,
            owner,
            "owner",
        )
        assert await role_in(bot, community, owner) is None
        # the removed owner's key lost its power at once (access version bumped)
        assert (await put(admin, "member", as_owner))[0] == 403


async def test_reads(stack_settings: Settings) -> None:
    async with community_bot(stack_settings) as bot:
        community = await community_of(bot)
        other = await community_of(bot, "elsewhere")
        alice = await chatter(bot, "alice")
        await set_role(bot, community, alice, "moderator")
        stranger = await person(bot, "stranger")
        as_alice = bearer(await key_for(bot, alice, ["communities:read"]))
        as_stranger = bearer(await key_for(bot, stranger))
        operator = bearer(await key_for(bot, None, ["admin"]))

        mine = await bot.client.get(f"{API}/communities", headers=as_alice)
        assert [(c["id"], c["role"]) for c in mine.json()] == [(community, "moderator")]
        everything = await bot.client.get(f"{API}/communities", headers=operator)
        listed = {c["id"]: c for c in everything.json()}
        assert set(listed) == {community, other}
        [entity] = listed[other]["entities"]
        assert (entity["platform"], entity["channel_id"]) == ("playground", "elsewhere")
        assert (await bot.client.get(f"{API}/communities", headers=as_stranger)).json() == []

        base = f"{API}/communities/{community}"
        members = (await bot.client.get(f"{base}/members", headers=as_alice)).json()
        assert members == [
            {
                "user_id": alice,
                "display_name": "alice",
                "role": "moderator",
                "accounts": [
                    {"platform": "playground", "platform_user_id": "alice", "username": "alice"}
                ],
            }
        ]
        detail = (await bot.client.get(base, headers=as_alice)).json()
        assert detail["role"] == "moderator" and detail["entities"][0]["channel_id"] == "lobby"
        commands = (await bot.client.get(f"{base}/commands", headers=as_alice)).json()
        ping = next(c for c in commands if c["trigger"] == "ping")
        assert (ping["scope"], ping["enabled"], ping["overridden"]) == ("global", True, False)
        role = next(c for c in commands if c["trigger"] == "role")
        assert role["module"] == "members"
        for path in ("", "/members", "/roles", "/commands"):
            refused = await bot.client.get(f"{base}{path}", headers=as_stranger)
            assert refused.status_code == 403, path
            assert refused.json()["detail"] == "you have no role in this community"
        # reading does not allow writing
        write = await bot.client.patch(
            f"{base}/commands/ping", json={"enabled": False}, headers=as_alice
        )
        assert write.status_code == 403 and "communities:write" in write.json()["detail"]

        catalogue = (await bot.client.get(f"{API}/permissions", headers=as_stranger)).json()
        by_name = {p["name"]: p for p in catalogue}
        assert by_name["roles.manage"]["default_roles"] == ["owner"]
        assert by_name["calendar.approve"]["default_roles"] == ["owner", "admin", "moderator"]


async def test_command_changes_over_rest(stack_settings: Settings) -> None:
    async with community_bot(stack_settings) as bot:
        community = await community_of(bot)
        operator = bearer(await key_for(bot, None, ["admin"]))
        base = f"{API}/communities/{community}/commands"

        changed = await bot.client.patch(
            f"{base}/ping",
            json={"enabled": False, "user_cooldown": 5, "min_role": "VIP"},
            headers=operator,
        )
        assert changed.status_code == 200, changed.text
        body = changed.json()
        assert (body["scope"], body["overridden"], body["enabled"]) == ("community", True, False)
        assert (body["user_cooldown"], body["min_role"], body["module"]) == (5.0, "vip", "core")
        assert await bot.texts("!ping") == ["@alice !ping is disabled in this community."]
        again = await bot.client.patch(f"{base}/ping", json={"enabled": True}, headers=operator)
        assert again.json()["user_cooldown"] == 5.0  # the community row keeps its changes
        assert await bot.texts("!ping") == ["@alice !ping is for vips and above."]
        assert await bot.texts("!ping", role="vip") == ["pong"]

        async def refused(path: str, body: object, status: int) -> str:
            answer = await bot.client.patch(f"{base}/{path}", json=body, headers=operator)
            assert answer.status_code == status, answer.text
            return str(answer.json()["detail"])

        assert "nothing to change" in await refused("ping", {}, 422)
        assert "unknown role" in await refused("ping", {"min_role": "king"}, 422)
        assert "greater than or equal" in await refused("ping", {"user_cooldown": -1}, 422)
        assert "Extra inputs" in await refused("ping", {"enabled": True, "x": 1}, 422)
        assert await refused("nope", {"enabled": True}, 404) == (
            "there is no command !nope in this community"
        )
        assert "pattern" in await refused("ping?prefix=%24", {"enabled": True}, 422)
        missing = await bot.client.patch(
            f"{API}/communities/nope/commands/ping", json={"enabled": True}, headers=operator
        )
        assert missing.status_code == 404 and missing.json()["detail"] == "no community 'nope'"


async def test_role_and_grant_validation(stack_settings: Settings) -> None:
    async with community_bot(stack_settings) as bot:
        community = await community_of(bot)
        operator = bearer(await key_for(bot, None, ["admin"]))
        base = f"{API}/communities/{community}"

        async def call(method: str, path: str, body: object | None = None) -> tuple[int, str]:
            answer = await bot.client.request(method, f"{base}{path}", json=body, headers=operator)
            return answer.status_code, str(answer.json().get("detail", ""))

        assert await call("PUT", "/members/ghost", {"role": "member"}) == (
            404,
            "no user 'ghost'",
        )
        status, detail = await call("PUT", f"/members/{await person(bot, 'p')}", {"role": "x"})
        assert (status, detail) == (
            422,
            "unknown role 'x'; choose from owner, admin, moderator, member",
        )
        assert await call("DELETE", "/members/ghost") == (
            404,
            "that user has no role in this community",
        )
        assert await call("PUT", "/roles/owner", {"permissions": []}) == (
            422,
            "owners hold every permission; their grant cannot be changed",
        )
        assert await call("DELETE", "/roles/owner") == (
            422,
            "owners hold every permission; their grant cannot be changed",
        )
        status, detail = await call("PUT", "/roles/admin", {"permissions": ["fly"]})
        assert status == 422 and detail.startswith("unknown permission(s): fly; known: ")
        status, _ = await call("PUT", "/roles/emperor", {"permissions": []})
        assert status == 422
        # nothing was written by the refusals
        roles = (await bot.client.get(f"{base}/roles", headers=operator)).json()
        assert not any(r["overridden"] for r in roles)
        assert (await bot.client.get(f"{base}/members", headers=operator)).json() == []
