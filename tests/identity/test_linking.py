"""Cross-platform linking end to end: playground + Twitch events through the real router."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select

from tests.support import LiveServer, live_server
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.identity import manager
from waddlebot.identity.service import IdentityService
from waddlebot.kernel.contracts import Event, OutboundMessage, Platform, UserRef
from waddlebot.kernel.contracts.names import outbound_queue, outcome_channel
from waddlebot.kernel.security.api_keys import create_api_key
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Entity, Membership, PlatformIdentity
from waddlebot.modules.core import module as core
from waddlebot.modules.identity import module as identity
from waddlebot.router.service import RouterService

API = "/api/identity/v1"
CODE = re.compile(r"!verify ([A-Z0-9]{6})\b")


@asynccontextmanager
async def identity_bot(settings: Settings) -> AsyncIterator[LiveServer]:
    app = create_app(
        settings,
        instances=[
            RouterService(modules=[core, identity]),
            PlaygroundService(),
            IdentityService(),
        ],
    )
    async with live_server(app) as bot:
        yield bot


async def drain_twitch(bot: LiveServer) -> list[OutboundMessage]:
    backend = bot.app.state.runtime.backend
    queue = outbound_queue("twitch")
    taken = await backend.queues.take(queue, "sender", "t", count=20, block=0.2)
    if taken:
        await backend.queues.ack(queue, "sender", *[item.id for item in taken])
    return [OutboundMessage.model_validate_json(item.payload) for item in taken]


async def twitch_say(
    bot: LiveServer, text: str, *, user_id: str = "t-77", name: str = "AliceTV"
) -> list[OutboundMessage]:
    """Submit a Twitch chat message to router ingress; return what was queued for Twitch."""
    backend = bot.app.state.runtime.backend
    event = Event(
        platform=Platform.twitch,
        server_id="s",
        channel_id="c",
        user=UserRef(id=user_id, name=name),
        text=text,
    )
    async with backend.pubsub.subscribe(outcome_channel(event.id)) as outcomes:
        client = bot.app.state.runtime.client("router", caller="test")
        answer = await client.post("/api/router/v1/events", json=event.model_dump(mode="json"))
        assert answer.status_code == 202
        assert await outcomes.get(timeout=10) is not None
    return await drain_twitch(bot)


async def twitch_texts(bot: LiveServer, text: str, **who: str) -> list[str]:
    return [message.text for message in await twitch_say(bot, text, **who)]


async def request_code(bot: LiveServer, *, user: str = "alice", target: str = "alicetv") -> str:
    """``!identity link twitch <target>`` from the playground; return the whispered code."""
    replies = await bot.texts(f"!identity link twitch {target}", user=user)
    assert len(replies) == 1 and replies[0].startswith("I sent a code to"), replies
    [whisper] = await drain_twitch(bot)
    assert whisper.kind == "whisper" and whisper.platform == Platform.twitch
    found = CODE.search(whisper.text)
    assert found is not None, whisper.text
    code = found.group(1)
    assert not set(code) & set("0O1IL")
    return code


async def user_of(bot: LiveServer, platform: str, account: str) -> str:
    async with bot.app.state.runtime.db.session() as session:
        found = await session.scalar(
            select(PlatformIdentity.user_id).where(
                PlatformIdentity.platform == platform,
                PlatformIdentity.platform_user_id == account,
            )
        )
    assert found is not None
    return str(found)


async def test_link_verify_status_whoami_and_unlink(stack_settings: Settings) -> None:
    async with identity_bot(stack_settings) as bot:
        assert await twitch_say(bot, "hello chat") == []  # the bot now knows AliceTV
        twitch_user = await user_of(bot, "twitch", "t-77")
        code = await request_code(bot)
        assert await user_of(bot, "twitch", "t-77") == twitch_user  # not linked before !verify

        assert await twitch_texts(bot, f"!verify {code.lower()}") == [
            "Linked! Your accounts: playground:alice, twitch:AliceTV"
        ]
        alice = await user_of(bot, "playground", "alice")
        assert await user_of(bot, "twitch", "t-77") == alice
        assert await bot.texts("!identity status") == [
            "Linked accounts: playground:alice, twitch:AliceTV"
        ]
        assert await twitch_texts(bot, "!identity status") == [
            "Linked accounts: playground:alice, twitch:AliceTV"
        ]
        # the router's identity cache was invalidated: Twitch now resolves to alice's user
        [who] = await twitch_texts(bot, "!whoami")
        assert who == (
            f"You are AliceTV (user {alice}), role here: everyone; "
            "accounts: playground:alice, twitch:AliceTV"
        )
        [who] = await bot.texts("!whoami", role="moderator")
        assert f"(user {alice}), role here: moderator" in who

        # a code is single-use
        assert await twitch_texts(bot, f"!verify {code}") == [
            "There is no pending link code for this account (or it expired)."
        ]

        assert await bot.texts("!identity unlink twitch") == ["Unlinked twitch:AliceTV."]
        assert await bot.texts("!identity status") == ["Linked accounts: playground:alice"]
        [who] = await twitch_texts(bot, "!whoami")
        assert alice not in who and "accounts: twitch:AliceTV" in who
        assert await bot.texts("!identity unlink twitch") == [
            "You have no linked account on twitch."
        ]


async def test_memberships_of_the_absorbed_user_move(stack_settings: Settings) -> None:
    async with identity_bot(stack_settings) as bot:
        await twitch_say(bot, "hi")
        await bot.texts("!ping")
        twitch_user = await user_of(bot, "twitch", "t-77")
        async with bot.app.state.runtime.db.session() as session:
            session.add(Membership(community_id=await _twitch_community(bot), user_id=twitch_user))
        code = await request_code(bot)
        await twitch_say(bot, f"!verify {code}")
        alice = await user_of(bot, "playground", "alice")
        async with bot.app.state.runtime.db.session() as session:
            owners = (await session.scalars(select(Membership.user_id))).all()
        assert owners == [alice]


async def _twitch_community(bot: LiveServer) -> str:
    async with bot.app.state.runtime.db.session() as session:
        found = await session.scalar(select(Entity.community_id).where(Entity.platform == "twitch"))
    assert found is not None
    return str(found)


async def test_wrong_codes_are_counted_and_the_sixth_attempt_refused(
    stack_settings: Settings,
) -> None:
    async with identity_bot(stack_settings) as bot:
        await twitch_say(bot, "hello")
        code = await request_code(bot)
        wrong = "ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY"
        for left in (4, 3, 2, 1, 0):
            assert await twitch_texts(bot, f"!verify {wrong}") == [
                f"That code is wrong ({left} attempt(s) left)."
            ]
        assert await twitch_texts(bot, f"!verify {code}") == [
            "Too many wrong codes; ask for a new one with !identity link."
        ]
        assert await twitch_texts(bot, f"!verify {code}") == [
            "There is no pending link code for this account (or it expired)."
        ]
        assert await user_of(bot, "twitch", "t-77") != await user_of(bot, "playground", "alice")


async def test_expired_code_is_refused(
    stack_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manager, "CODE_TTL", 1.0)
    async with identity_bot(stack_settings) as bot:
        await twitch_say(bot, "hello")
        code = await request_code(bot)
        await asyncio.sleep(1.6)
        assert await twitch_texts(bot, f"!verify {code}") == [
            "There is no pending link code for this account (or it expired)."
        ]


async def test_code_typed_from_another_account_is_refused(stack_settings: Settings) -> None:
    async with identity_bot(stack_settings) as bot:
        await twitch_say(bot, "hello")
        await twitch_say(bot, "me too", user_id="t-99", name="Mallory")
        code = await request_code(bot)
        assert await twitch_texts(bot, f"!verify {code}", user_id="t-99", name="Mallory") == [
            "There is no pending link code for this account (or it expired)."
        ]
        assert await user_of(bot, "twitch", "t-99") != await user_of(bot, "playground", "alice")
        # the account it was sent to still can
        [linked] = await twitch_texts(bot, f"!verify {code}")
        assert linked.startswith("Linked!")


async def test_resend_within_a_minute_is_refused(stack_settings: Settings) -> None:
    async with identity_bot(stack_settings) as bot:
        await twitch_say(bot, "hello")
        await request_code(bot)
        assert await bot.texts("!identity link twitch AliceTV") == [
            "A code was sent less than a minute ago; wait before asking again."
        ]
        assert await drain_twitch(bot) == []


async def test_unknown_target_account_gets_a_clear_reply(stack_settings: Settings) -> None:
    async with identity_bot(stack_settings) as bot:
        assert await bot.texts("!identity link twitch nobody") == [
            "I have never seen nobody on twitch: they must say something in a channel I am "
            "in first, then try again."
        ]
        assert await bot.texts("!identity link myspace nobody") == [
            "I don't know the platform 'myspace'."
        ]
        assert await drain_twitch(bot) == []


async def test_an_account_linked_to_someone_else_cannot_be_claimed(
    stack_settings: Settings,
) -> None:
    async with identity_bot(stack_settings) as bot:
        await twitch_say(bot, "hello")
        await twitch_say(bot, f"!verify {await request_code(bot)}")
        assert await bot.texts("!identity link twitch alicetv", user="bob") == [
            "AliceTV on twitch is linked to someone else; they must unlink it first."
        ]


async def test_rest_lists_and_detaches_identities(stack_settings: Settings) -> None:
    async with identity_bot(stack_settings) as bot:
        await twitch_say(bot, "hello", user_id="t-88", name="BobTV")
        code = await request_code(bot, user="bob", target="bobtv")
        await twitch_say(bot, f"!verify {code}", user_id="t-88", name="BobTV")
        bob = await user_of(bot, "playground", "bob")
        db = bot.app.state.runtime.db
        manage, _ = await create_api_key(db, name="ops", scopes=["identity:manage"])
        other, _ = await create_api_key(db, name="obs", scopes=["overlays:manage"])
        url = f"{API}/users/{bob}/identities"

        assert (await bot.client.get(url)).status_code == 401
        assert (await bot.client.get(url, headers={"X-API-Key": other})).status_code == 403
        assert (
            await bot.client.delete(f"{url}/twitch", headers={"X-API-Key": other})
        ).status_code == 403
        listed = await bot.client.get(url, headers={"Authorization": f"Bearer {manage}"})
        assert listed.status_code == 200
        assert [(i["platform"], i["username"]) for i in listed.json()["identities"]] == [
            ("playground", "bob"),
            ("twitch", "BobTV"),
        ]

        detached = await bot.client.delete(f"{url}/twitch", headers={"X-API-Key": manage})
        assert detached.status_code == 200
        assert detached.json()["identities"][0]["platform_user_id"] == "t-88"
        assert await user_of(bot, "twitch", "t-88") != bob
        [who] = await twitch_texts(bot, "!whoami", user_id="t-88", name="BobTV")
        assert bob not in who
        again = await bot.client.delete(f"{url}/twitch", headers={"X-API-Key": manage})
        assert again.status_code == 409
        missing = await bot.client.get(
            f"{API}/users/nobody/identities", headers={"X-API-Key": manage}
        )
        assert missing.status_code == 404


async def submit(bot: LiveServer, event: Event) -> None:
    """Hand ``event`` to router ingress and wait until the router has finished it."""
    backend = bot.app.state.runtime.backend
    async with backend.pubsub.subscribe(outcome_channel(event.id)) as outcomes:
        client = bot.app.state.runtime.client("router", caller="test")
        answer = await client.post("/api/router/v1/events", json=event.model_dump(mode="json"))
        assert answer.status_code == 202
        assert await outcomes.get(timeout=10) is not None


async def test_a_renamed_account_is_found_by_its_new_name(stack_settings: Settings) -> None:
    async with identity_bot(stack_settings) as bot:
        await twitch_say(bot, "hello", name="OldName")
        await twitch_say(bot, "new name, same account", name="NewName")
        async with bot.app.state.runtime.db.session() as session:
            stored = await session.scalar(
                select(PlatformIdentity.username).where(PlatformIdentity.platform_user_id == "t-77")
            )
        assert stored == "NewName"
        [refusal] = await bot.texts("!identity link twitch OldName")
        assert refusal.startswith("I have never seen OldName on twitch")
        code = await request_code(bot, target="newname")
        assert await twitch_texts(bot, f"!verify {code}", name="NewName") == [
            "Linked! Your accounts: playground:alice, twitch:NewName"
        ]


async def test_the_code_whisper_to_slack_names_the_accounts_workspace(
    stack_settings: Settings,
) -> None:
    """Slack DMs need the workspace's token, so the whisper carries the account's team id."""
    async with identity_bot(stack_settings) as bot:
        await submit(
            bot,
            Event(
                platform=Platform.slack,
                server_id="T0TEAM",
                channel_id="C0GENERAL",
                user=UserRef(id="U0BOB", name="bob"),
                text="hi",
            ),
        )
        [reply] = await bot.texts("!identity link slack bob", user="bobby")
        assert reply.startswith("I sent a code to bob on slack")
        backend = bot.app.state.runtime.backend
        taken = await backend.queues.take(
            outbound_queue("slack"), "sender", "t", count=5, block=0.5
        )
        [whisper] = [OutboundMessage.model_validate_json(item.payload) for item in taken]
        assert whisper.kind == "whisper"
        assert (whisper.server_id, whisper.user_id) == ("T0TEAM", "U0BOB")
