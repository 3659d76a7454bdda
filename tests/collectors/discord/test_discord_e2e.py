"""Discord end to end over real HTTP: signed interactions and py-cord gateway dispatches in →
router → module → sender → the fake Discord REST API, on both stacks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import discord
import pytest
from nacl.signing import SigningKey

from tests.collectors.discord.fake_discord import (
    APPLICATION_ID,
    BOT_TOKEN,
    CHANNEL_ID,
    GUILD_ID,
    USER_ID,
    FakeDiscord,
    command_interaction,
    signed,
)
from tests.support import LiveServer, live_server, testkit
from waddlebot.app import create_app
from waddlebot.collectors.discord.adapter import build_client
from waddlebot.collectors.discord.commands import sync_commands
from waddlebot.collectors.discord.config import DiscordSettings
from waddlebot.collectors.discord.gateway import GatewayHandler
from waddlebot.collectors.discord.service import DiscordService
from waddlebot.kernel.contracts import EventType, Role
from waddlebot.kernel.settings import Settings
from waddlebot.modules.core import module as core
from waddlebot.router.service import RouterService
from waddlebot.sdk import Context, Module

KEY = SigningKey.generate()
greeter = Module("greeter", description="Greets members and guilds.")


@greeter.on_event(EventType.member_join, EventType.member_leave, EventType.guild_join)
async def greet(ctx: Context) -> None:
    event = ctx.request.event
    who = event.user.name if event.user else event.channel_name
    ctx.reply(f"{event.type.value}: {who}")


TOKEN = "aW50ZXJhY3Rpb24tdG9rZW4"
OWNER_ID = "80351110224678912"
MOD_ROLE = "41771983423143936"


@dataclass
class Stack:
    bot: LiveServer
    discord: FakeDiscord
    settings: DiscordSettings

    async def interact(self, body: bytes) -> dict[str, Any]:
        answer = await self.bot.client.post(
            "/webhooks/discord/interactions", content=body, headers=signed(KEY, body)
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result


@pytest.fixture
async def stack(stack_settings: Settings) -> AsyncIterator[Stack]:
    fake = FakeDiscord()
    async with live_server(fake.app()) as server:
        fake.url = server.url
        settings = DiscordSettings(
            bot_token=BOT_TOKEN,
            application_id=APPLICATION_ID,
            public_key=KEY.verify_key.encode().hex(),
            api_base=f"{server.url}/api/v10",
            role_map={"mods": Role.moderator},
        )
        app = create_app(
            stack_settings,
            instances=[RouterService(modules=[core, testkit, greeter]), DiscordService(settings)],
        )
        async with live_server(app) as bot:
            yield Stack(bot=bot, discord=fake, settings=settings)


async def test_ping_gets_pong_and_forgeries_get_401(stack: Stack) -> None:
    body = b'{"type":1,"id":"1","application_id":"%s","token":"t","version":1}' % (
        APPLICATION_ID.encode()
    )
    assert await stack.interact(body) == {"type": 1}
    for headers, content in (
        (signed(KEY, body), body + b" "),
        (signed(SigningKey.generate(), body), body),
        (signed(KEY, body, timestamp=int(time.time()) - 301), body),
        ({"content-type": "application/json"}, body),
    ):
        answer = await stack.bot.client.post(
            "/webhooks/discord/interactions", content=content, headers=headers
        )
        assert answer.status_code == 401


async def test_slash_command_answered_inline_when_the_module_is_quick(stack: Stack) -> None:
    answer = await stack.interact(command_interaction("ping"))
    assert answer["type"] == 4 and answer["data"]["content"] == "pong"
    await asyncio.sleep(0.3)
    assert stack.discord.calls == []  # nothing sent twice


async def test_slash_command_deferred_then_followed_up(stack: Stack) -> None:
    stack.settings.inline_wait = 0
    assert await stack.interact(command_interaction("ping")) == {"type": 5}
    [followup] = await stack.discord.wait_for(f"/webhooks/{APPLICATION_ID}/{TOKEN}")
    assert followup.method == "POST" and followup.body["content"] == "pong"
    assert "authorization" not in followup.headers  # interaction webhooks need no bot token


async def test_whisper_from_a_slash_command_is_a_dm(stack: Stack) -> None:
    answer = await stack.interact(command_interaction("whisperme", interaction_id="2"))
    assert answer["data"]["content"] == "sent you a whisper"
    [opened] = await stack.discord.wait_for("/users/@me/channels")
    assert opened.body == {"recipient_id": USER_ID}
    assert opened.headers["authorization"] == f"Bot {BOT_TOKEN}"
    dm_channel = "7" + USER_ID[1:]
    [dm] = await stack.discord.wait_for(f"/channels/{dm_channel}/messages")
    assert dm.body["content"] == "psst" and dm.body["allowed_mentions"] == {"parse": []}


async def test_long_replies_are_split_at_2000_characters(stack: Stack) -> None:
    stack.settings.inline_wait = 0
    body = command_interaction("echo", args=" ".join(["abcde"] * 600), interaction_id="3")
    assert (await stack.interact(body))["type"] == 5
    pieces = await stack.discord.wait_for(f"/webhooks/{APPLICATION_ID}/{TOKEN}", 2)
    assert [len(p.body["content"]) for p in pieces] == [2000, 1599]
    assert "".join(p.body["content"] for p in pieces) == "|".join(["abcde"] * 600)


def _guild(*, joined: bool = False) -> dict[str, Any]:
    """A GUILD_CREATE payload: ``joined`` = the bot was just added (else the guild became
    available at start-up, which is not a join)."""
    return {
        **({} if joined else {"unavailable": False}),
        "id": GUILD_ID,
        "name": "Waddle Guild",
        "owner_id": OWNER_ID,
        "member_count": 3,
        "system_channel_id": CHANNEL_ID,
        "roles": [
            {
                "id": GUILD_ID,
                "name": "@everyone",
                "permissions": "1024",
                "position": 0,
                "color": 0,
                "colors": {"primary_color": 0},
                "hoist": False,
                "managed": False,
                "mentionable": False,
            },
            {
                "id": MOD_ROLE,
                "name": "Mods",
                "permissions": "0",
                "position": 1,
                "color": 0,
                "colors": {"primary_color": 0},
                "hoist": False,
                "managed": False,
                "mentionable": False,
            },
        ],
        "channels": [
            {
                "id": CHANNEL_ID,
                "type": 0,
                "name": "general",
                "position": 0,
                "permission_overwrites": [],
            },
        ],
        "members": [],
        "emojis": [],
        "stickers": [],
        "features": [],
        "threads": [],
        "voice_states": [],
        "presences": [],
        "large": False,
    }


def _message(
    message_id: str,
    content: str,
    *,
    author: str = USER_ID,
    roles: list[str] | None = None,
    bot: bool = False,
) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": author,
        "username": f"user{author[-3:]}",
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
    }
    if bot:
        user["bot"] = True
    return {
        "id": message_id,
        "channel_id": CHANNEL_ID,
        "guild_id": GUILD_ID,
        "author": user,
        "member": {
            "roles": roles or [],
            "joined_at": "2023-01-01T00:00:00+00:00",
            "nick": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
        },
        "content": content,
        "timestamp": "2026-11-25T20:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
    }


async def test_gateway_messages_through_py_cord(stack: Stack) -> None:
    """Gateway dispatch payloads parsed by py-cord's own state, handled by our listeners."""
    runtime = stack.bot.app.state.runtime
    client = build_client(stack.settings, GatewayHandler(runtime, stack.settings))
    state = client._connection
    state.parse_guild_create(_guild())
    state.parse_message_create(_message("1000000000000000001", "!ping"))
    [reply] = await stack.discord.wait_for(f"/channels/{CHANNEL_ID}/messages")
    assert reply.body["content"] == "pong"
    assert reply.body["message_reference"]["message_id"] == "1000000000000000001"
    state.parse_message_create(_message("1000000000000000001", "!ping"))  # a replay: once
    state.parse_message_create(_message("1000000000000000002", "!ping", bot=True))
    state.parse_message_create(_message("1000000000000000003", "just chatting"))
    state.parse_message_create(_message("1000000000000000004", "!modonly"))
    state.parse_message_create(_message("1000000000000000005", "!modonly", roles=[MOD_ROLE]))
    state.parse_message_create(_message("1000000000000000006", "!modonly", author=OWNER_ID))
    replies = await stack.discord.wait_for(f"/channels/{CHANNEL_ID}/messages", 4)
    await asyncio.sleep(0.3)
    assert sorted(r.body["content"] for r in stack.discord.of("/channels/")) == sorted(
        [r.body["content"] for r in replies]
    )
    assert sorted(r.body["content"] for r in replies) == [
        "@user680 !modonly is for moderators and above.",
        "pong",
        "secret moderator stuff",
        "secret moderator stuff",
    ]
    await client.close()


async def test_gateway_member_and_guild_events(stack: Stack) -> None:
    runtime = stack.bot.app.state.runtime
    client = build_client(stack.settings, GatewayHandler(runtime, stack.settings))
    state = client._connection
    state.parse_guild_create(_guild(joined=True))
    await stack.discord.wait_for(f"/channels/{CHANNEL_ID}/messages", 1)
    user = {"id": "1234567890123456", "username": "newbie", "discriminator": "0", "avatar": None}
    state.parse_guild_member_add(
        {
            "guild_id": GUILD_ID,
            "user": user,
            "roles": [],
            "joined_at": "2026-11-25T20:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
        }
    )
    await stack.discord.wait_for(f"/channels/{CHANNEL_ID}/messages", 2)
    state.parse_guild_member_remove({"guild_id": GUILD_ID, "user": user})
    posts = await stack.discord.wait_for(f"/channels/{CHANNEL_ID}/messages", 3)
    assert [p.body["content"] for p in posts] == [
        "guild_join: Waddle Guild",
        "member_join: newbie",
        "member_leave: newbie",
    ]
    await client.close()


async def test_rest_429_is_honoured(stack: Stack) -> None:
    stack.discord.throttle.append(
        {"message": "You are being rate limited.", "retry_after": 1.0, "global": False}
    )
    runtime = stack.bot.app.state.runtime
    client = build_client(stack.settings, GatewayHandler(runtime, stack.settings))
    client._connection.parse_guild_create(_guild())
    client._connection.parse_message_create(_message("1000000000000000009", "!ping"))
    first, second = await stack.discord.wait_for(f"/channels/{CHANNEL_ID}/messages", 2)
    assert second.at - first.at >= 0.9 and second.body["content"] == "pong"
    await client.close()


async def test_sync_commands_puts_the_registry(stack: Stack) -> None:
    runtime = stack.bot.app.state.runtime
    sent = await sync_commands(runtime.db, runtime.backend.kv, stack.settings, GUILD_ID)
    [put] = stack.discord.of(f"/applications/{APPLICATION_ID}/guilds/{GUILD_ID}/commands")
    assert put.method == "PUT" and put.body == sent
    names = {command["name"]: command for command in sent}
    assert {"ping", "help", "modonly", "echo"} <= set(names)
    assert names["modonly"]["default_member_permissions"] == str(1 << 13)
    await sync_commands(runtime.db, runtime.backend.kv, stack.settings)
    assert stack.discord.of(f"/applications/{APPLICATION_ID}/commands")[0].method == "PUT"
    assert isinstance(discord.__version__, str)
