"""The only module that touches py-cord: a gateway client whose handlers convert py-cord
objects into :mod:`.normalise` dataclasses for :class:`.gateway.GatewayHandler`.

``WADDLEBOT_DISCORD_API_BASE`` is applied to py-cord's HTTP routes too, so the gateway URL
lookup and every REST call py-cord makes go where the rest of the collector goes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord

from waddlebot.collectors.discord.config import DiscordSettings
from waddlebot.collectors.discord.gateway import GatewayHandler
from waddlebot.collectors.discord.normalise import Author, GatewayMessage
from waddlebot.kernel.contracts import EventType
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH


def author_of(user: discord.User | discord.Member, guild: discord.Guild | None) -> Author:
    """Who wrote or joined: name, bot flag, and (in a guild) ownership, permissions, roles."""
    permissions = 0
    role_keys: tuple[str, ...] = ()
    if isinstance(user, discord.Member):
        permissions = user.guild_permissions.value
        role_keys = tuple(
            key for role in user.roles for key in (str(role.id), role.name) if not role.is_default()
        )
    return Author(
        id=str(user.id),
        name=user.name,
        display_name=user.display_name if user.display_name != user.name else None,
        bot=user.bot,
        is_owner=guild is not None and guild.owner_id == user.id,
        permissions=permissions,
        role_keys=role_keys,
    )


def message_of(message: discord.Message) -> GatewayMessage:
    guild = message.guild
    return GatewayMessage(
        id=str(message.id),
        guild_id=str(guild.id) if guild else None,
        channel_id=str(message.channel.id),
        channel_name=getattr(message.channel, "name", None),
        author=author_of(message.author, guild),
        content=message.content,
    )


def _system_channel(guild: discord.Guild) -> str | None:
    channel = guild.system_channel
    return str(channel.id) if channel is not None else None


class _ShardClient(discord.Client):
    """A client for one shard whose IDENTIFY waits for ``gate`` (the identify queue shared
    through the backend, see :mod:`.shards`) instead of py-cord's fixed 5 s sleep."""

    def __init__(self, gate: Callable[[int | None], Awaitable[None]], **options: Any) -> None:
        super().__init__(**options)
        self._gate = gate

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        await self._gate(shard_id)


def build_client(
    settings: DiscordSettings,
    handler: GatewayHandler,
    *,
    shard: tuple[int, int] | None = None,
    gate: Callable[[int | None], Awaitable[None]] | None = None,
) -> discord.Client:
    """A py-cord client with the intents a chat bot needs and our handlers attached;
    ``shard`` = (shard id, shard count) identifies as that shard, ``gate`` is awaited before
    every IDENTIFY."""
    discord.http.Route.API_BASE_URL = settings.api_base
    intents = discord.Intents.default()
    intents.message_content = True  # privileged: enable it in the developer portal
    intents.members = settings.member_events  # privileged: member join/leave
    options: dict[str, Any] = {"intents": intents, "chunk_guilds_at_startup": False}
    if shard is not None:
        options.update(shard_id=shard[0], shard_count=shard[1])
    client = _ShardClient(gate, **options) if gate is not None else discord.Client(**options)

    async def on_message(message: discord.Message) -> None:
        await handler.message(message_of(message))

    async def on_member_join(member: discord.Member) -> None:
        joined = member.joined_at.timestamp() if member.joined_at else 0
        await handler.member(
            EventType.member_join,
            guild_id=str(member.guild.id),
            channel_id=_system_channel(member.guild),
            author=author_of(member, member.guild),
            key=f"member-join:{member.guild.id}:{member.id}:{joined:.0f}",
        )

    async def on_raw_member_remove(payload: discord.RawMemberRemoveEvent) -> None:
        user = payload.user
        guild = client.get_guild(payload.guild_id)
        await handler.member(
            EventType.member_leave,
            guild_id=str(payload.guild_id),
            channel_id=_system_channel(guild) if guild else None,
            author=author_of(user, guild),
            key=f"member-leave:{payload.guild_id}:{user.id}:{discord.utils.utcnow().timestamp():.0f}",
        )

    async def on_guild_join(guild: discord.Guild) -> None:
        await handler.guild_join(
            guild_id=str(guild.id),
            guild_name=guild.name,
            channel_id=_system_channel(guild),
            owner_id=str(guild.owner_id) if guild.owner_id else None,
        )

    which = f"shard {shard[0]}/{shard[1]}: " if shard is not None and shard[1] > 1 else ""

    async def on_ready() -> None:
        detail = f"{which}{len(client.guilds)} guilds"
        PLATFORM_HEALTH.connection("discord", True, "gateway", detail)

    async def on_resumed() -> None:
        PLATFORM_HEALTH.connection("discord", True, "gateway", f"{which}resumed")

    async def on_disconnect() -> None:
        detail = f"{which}disconnected, reconnecting"
        PLATFORM_HEALTH.connection("discord", False, "gateway", detail)

    client.add_listener(on_ready, "on_ready")
    client.add_listener(on_resumed, "on_resumed")
    client.add_listener(on_disconnect, "on_disconnect")
    client.add_listener(on_message, "on_message")
    client.add_listener(on_member_join, "on_member_join")
    client.add_listener(on_raw_member_remove, "on_raw_member_remove")
    client.add_listener(on_guild_join, "on_guild_join")
    return client
