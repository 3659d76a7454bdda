"""Slash commands generated from the router's command registry, bulk-overwritten with PUT."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from waddlebot.collectors.discord.config import DiscordSettings
from waddlebot.collectors.discord.normalise import ARGS_OPTION
from waddlebot.collectors.discord.rest import DiscordRest
from waddlebot.collectors.discord.roles import MANAGE_GUILD, MANAGE_MESSAGES
from waddlebot.kernel.backends import KeyValue
from waddlebot.kernel.contracts import CommandInfo, Role
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Entity
from waddlebot.router.registry import CommandTable

NAME = re.compile(r"^[-_a-z0-9]{1,32}$")
MAX_COMMANDS = 100


def slash_commands(commands: list[CommandInfo]) -> list[dict[str, Any]]:
    """CHAT_INPUT definitions for the ``!`` commands whose trigger is a valid Discord name.

    Each takes one optional free-text ``args`` option; commands for moderators and
    broadcasters, and commands needing a WaddleBot permission, are hidden from members lacking
    the matching Discord permission by default (the router still checks everything)."""
    definitions: list[dict[str, Any]] = []
    for command in commands:
        if command.prefix != "!" or not NAME.match(command.trigger):
            continue
        definition: dict[str, Any] = {
            "name": command.trigger,
            "type": 1,
            "description": (command.description or command.usage or command.trigger)[:100],
            "options": [
                {
                    "name": ARGS_OPTION,
                    "description": (command.usage or "arguments")[:100],
                    "type": 3,
                    "required": False,
                }
            ],
        }
        if command.min_role >= Role.broadcaster or command.permission is not None:
            # management commands (a WaddleBot permission, granted to owners by default):
            # shown to server managers; server admins can widen this in Discord's settings
            definition["default_member_permissions"] = str(MANAGE_GUILD)
        elif command.min_role >= Role.moderator:
            definition["default_member_permissions"] = str(MANAGE_MESSAGES)
        definitions.append(definition)
    return definitions[:MAX_COMMANDS]


async def registry_commands(db: Database, guild_id: str | None) -> list[CommandInfo]:
    """Every command in the registry: global ones, plus the guild's community's own."""
    table = CommandTable()
    await table.load(db)
    community = ""
    if guild_id:
        async with db.read_session() as session:
            entity = await session.scalar(
                select(Entity).where(Entity.platform == "discord", Entity.server_id == guild_id)
            )
        community = entity.community_id if entity else ""
    return table.available(community, Role.broadcaster)


async def sync_commands(
    db: Database, kv: KeyValue, settings: DiscordSettings, guild_id: str | None = None
) -> list[dict[str, Any]]:
    """PUT the generated commands globally or for one guild; returns what was sent."""
    if not settings.application_id:
        raise ValueError("WADDLEBOT_DISCORD_APPLICATION_ID is not set")
    definitions = slash_commands(await registry_commands(db, guild_id))
    path = f"/applications/{settings.application_id}"
    if guild_id:
        path += f"/guilds/{guild_id}"
    rest = DiscordRest(kv, settings)
    try:
        await rest.request(
            "PUT", path + "/commands", route=f"commands:{guild_id}", json=definitions
        )
    finally:
        await rest.close()
    return definitions
