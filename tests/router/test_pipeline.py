"""Pipeline paths beyond the playground basics: timeouts, rate limits, events, overlays."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy import select

from tests.support import LiveServer, build_app, live_server
from waddlebot.kernel.contracts import Event, EventType, OutboundMessage, Platform, UserRef
from waddlebot.kernel.contracts.names import outbound_queue, outcome_channel, overlay_channel
from waddlebot.kernel.security.rbac import access_changed
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Entity, Membership, PlatformIdentity


async def lobby_community(bot: LiveServer) -> str:
    """The community the playground's lobby channel was registered into."""
    await bot.texts("!ping")
    async with bot.app.state.runtime.db.session() as session:
        community_id = await session.scalar(
            select(Entity.community_id).where(Entity.channel_id == "lobby")
        )
    assert community_id is not None
    return str(community_id)


async def test_slow_module_times_out_with_a_friendly_reply(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"module_timeout": 0.3})
    async with live_server(build_app(settings)) as bot:
        body = await bot.say("!slow")
        assert body["status"] == "failed"
        assert body["replies"] == [
            {
                "type": "chat",
                "text": "@alice sorry, !slow took too long to answer. Try again later.",
            }
        ]
        assert await bot.texts("!ping") == ["pong"]


async def test_user_rate_limit_refuses_once_then_stays_quiet(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"rate_limit_user": 3, "rate_limit_window": 60})
    async with live_server(build_app(settings)) as bot:
        for _ in range(3):
            assert await bot.texts("!ping") == ["pong"]
        [notice] = await bot.texts("!ping")
        assert notice.startswith("@alice slow down, try again in ")
        assert await bot.texts("!ping") == []
        assert await bot.texts("!ping", user="bob") == ["pong"]  # other users unaffected
        assert await bot.texts("!ping", role="broadcaster") == ["pong"]  # broadcasters exempt


async def test_entity_rate_limit_covers_everyone_in_the_channel(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"rate_limit_entity": 2, "rate_limit_window": 60})
    async with live_server(build_app(settings)) as bot:
        assert await bot.texts("!ping", user="a") == ["pong"]
        assert await bot.texts("!ping", user="b") == ["pong"]
        assert (await bot.say("!ping", user="c"))["status"] == "refused"
        assert await bot.texts("!ping", user="d", channel="elsewhere") == ["pong"]


async def test_community_role_raises_the_platform_role(stack_settings: Settings) -> None:
    async with live_server(build_app(stack_settings)) as bot:
        assert (await bot.say("!modonly", user="dana"))["status"] == "refused"
        runtime = bot.app.state.runtime
        community_id = await lobby_community(bot)
        async with runtime.db.session() as session:
            user_id = await session.scalar(
                select(PlatformIdentity.user_id).where(PlatformIdentity.platform_user_id == "dana")
            )
            assert user_id is not None
            session.add(Membership(community_id=community_id, user_id=user_id, role="moderator"))
        await access_changed(runtime.backend.kv, community_id)
        assert await bot.texts("!modonly", user="dana") == ["secret moderator stuff"]


async def test_subscribed_modules_receive_non_command_events(stack_settings: Settings) -> None:
    async with live_server(build_app(stack_settings)) as bot:
        backend = bot.app.state.runtime.backend
        follow = Event(
            type=EventType.follow,
            platform=Platform.twitch,
            server_id="s",
            channel_id="c",
            user=UserRef(id="42", name="newfan"),
        )
        async with backend.pubsub.subscribe(outcome_channel(follow.id)) as outcomes:
            client = bot.app.state.runtime.client("router", caller="test")
            answer = await client.post("/api/router/v1/events", json=follow.model_dump(mode="json"))
            assert answer.status_code == 202
            assert await outcomes.get(timeout=10) is not None
        [queued] = await backend.queues.take(outbound_queue("twitch"), "sender", "t", count=5)
        message = OutboundMessage.model_validate_json(queued.payload)
        assert message.text == "thanks for the follow, newfan!"
        assert (message.channel_id, message.kind) == ("c", "chat")


async def test_overlay_actions_are_published_for_the_community(stack_settings: Settings) -> None:
    async with live_server(build_app(stack_settings)) as bot:
        backend = bot.app.state.runtime.backend
        community_id = await lobby_community(bot)
        async with backend.pubsub.subscribe(overlay_channel(community_id)) as overlays:
            assert await bot.texts("!show hello world") == ["shown"]
            received = await overlays.get(timeout=5)
        assert received is not None
        assert b'"kind":"ticker"' in received[1] and b"hello world" in received[1]


async def member_id(bot: LiveServer, name: str) -> str:
    async with bot.app.state.runtime.db.session() as session:
        user_id = await session.scalar(
            select(PlatformIdentity.user_id).where(PlatformIdentity.platform_user_id == name)
        )
    assert user_id is not None
    return str(user_id)


async def test_commands_and_subcommands_need_their_permission(stack_settings: Settings) -> None:
    async with live_server(build_app(stack_settings)) as bot:
        runtime = bot.app.state.runtime
        community_id = await lobby_community(bot)
        # the first broadcaster seen claims the unowned community
        assert await bot.texts("!tune", user="streamer", role="broadcaster") == ["tuned"]
        with structlog.testing.capture_logs() as logs:
            assert await bot.texts("!tune", user="eve") == [
                "@eve !tune needs the commands.manage permission here."
            ]
        [denied] = [e for e in logs if e.get("category") == "AUTHZ"]
        assert (denied["action"], denied["result"], denied["community"]) == (
            "!tune",
            "denied",
            community_id,
        )
        assert await bot.texts("!kit look", user="eve") == ["looked"]
        # listings show only what the caller may run
        [listing] = await bot.texts("!commands", user="eve")
        assert "!kit" in listing and "!tune" not in listing
        [listing] = await bot.texts("!commands", user="streamer", role="broadcaster")
        assert "!tune" in listing
        assert await bot.texts("!kit fix", user="eve") == [
            "@eve !kit fix needs the labels.manage permission here."
        ]
        assert await bot.texts("!kit fix", user="mod", role="moderator") == [
            "@mod !kit fix needs the labels.manage permission here."
        ]

        eve = await member_id(bot, "eve")
        async with runtime.db.session() as session:
            session.add(Membership(community_id=community_id, user_id=eve, role="admin"))
            owner = await session.scalar(
                select(Membership.user_id).where(
                    Membership.community_id == community_id, Membership.role == "owner"
                )
            )
        assert owner == await member_id(bot, "streamer")
        await access_changed(runtime.backend.kv, community_id)
        assert await bot.texts("!tune", user="eve") == ["tuned"]
        assert await bot.texts("!kit fix", user="eve") == ["fixed"]
        [mine] = await bot.texts("!mine", user="eve")
        assert mine.startswith("labels= perms=")
        perms = mine.removeprefix("labels= perms=").split(",")
        assert perms == sorted(perms) and {"calendar.approve", "commands.manage"} <= set(perms)
        assert "roles.manage" not in mine


async def test_a_channel_session_lives_while_people_talk_and_ends_when_they_stop(
    stack_settings: Settings,
) -> None:
    """The session's TTL is renewed by traffic (at most once a tenth of it per process), so
    it outlives its TTL while the channel talks and is gone a TTL after the last message."""
    settings = stack_settings.model_copy(update={"session_ttl": 2})
    async with live_server(build_app(settings)) as bot:
        kv = bot.app.state.runtime.backend.kv
        await bot.texts("!ping")
        async with bot.app.state.runtime.db.session() as session:
            entity_id = await session.scalar(select(Entity.id).where(Entity.channel_id == "lobby"))
        first = await kv.get(f"session:{entity_id}")
        assert first is not None
        for _ in range(12):  # 3 s of traffic: longer than the TTL
            await asyncio.sleep(0.25)
            assert await bot.texts("!ping") == ["pong"]
            assert await kv.get(f"session:{entity_id}") == first
        await asyncio.sleep(2.5)  # quiet for longer than the TTL
        assert await kv.get(f"session:{entity_id}") is None
        assert await bot.texts("!ping") == ["pong"]
        second = await kv.get(f"session:{entity_id}")
        assert second is not None and second != first
