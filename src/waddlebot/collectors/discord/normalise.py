"""Discord gateway objects and interactions → the router's :class:`Event`. Pure, no I/O.

The gateway adapter turns py-cord objects into the small dataclasses below; interactions
arrive as JSON. Both end up here, so roles and events are the same whichever way a command
came in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from waddlebot.collectors.discord.roles import discord_role, parse_permissions
from waddlebot.kernel.contracts import Event, EventType, Platform, Role, UserRef

COMMAND_PREFIXES = ("!", "#")
DM_SERVER = "dm"
ARGS_OPTION = "args"


@dataclass(frozen=True, slots=True)
class Author:
    id: str
    name: str
    display_name: str | None = None
    bot: bool = False
    is_owner: bool = False
    permissions: int = 0
    role_keys: tuple[str, ...] = ()  # role ids and names

    def user(self, mapping: Mapping[str, Role]) -> UserRef:
        return UserRef(
            id=self.id,
            name=self.name[:200] or self.id,
            display_name=self.display_name[:200] if self.display_name else None,
            role=discord_role(
                is_owner=self.is_owner,
                permissions=self.permissions,
                role_keys=self.role_keys,
                mapping=mapping,
            ),
        )


@dataclass(frozen=True, slots=True)
class GatewayMessage:
    id: str
    guild_id: str | None
    channel_id: str
    channel_name: str | None
    author: Author
    content: str
    data: dict[str, Any] = field(default_factory=dict)


def message_event(message: GatewayMessage, mapping: Mapping[str, Role]) -> Event | None:
    """A ``!command`` typed by a person; None for bots and ordinary chat."""
    if message.author.bot:
        return None
    text = message.content.strip()
    if not text.startswith(COMMAND_PREFIXES):
        return None
    return Event(
        id=message.id,
        type=EventType.message,
        platform=Platform.discord,
        server_id=message.guild_id or DM_SERVER,
        channel_id=message.channel_id,
        channel_name=message.channel_name,
        user=message.author.user(mapping),
        text=text[:4000],
        reply_to=message.id,
        outcome_wanted=False,  # gateway messages are answered through the sender
    )


def member_event(
    kind: EventType,
    *,
    guild_id: str,
    channel_id: str | None,
    author: Author,
    mapping: Mapping[str, Role],
    event_id: str,
) -> Event:
    """member_join / member_leave; replies go to the guild's system channel when it has one."""
    return Event(
        id=event_id,
        type=kind,
        platform=Platform.discord,
        server_id=guild_id,
        channel_id=channel_id or guild_id,
        user=author.user(mapping),
        outcome_wanted=False,
    )


def guild_join_event(
    *, guild_id: str, guild_name: str, channel_id: str | None, owner_id: str | None
) -> Event:
    return Event(
        id=f"guild-join:{guild_id}",
        type=EventType.guild_join,
        platform=Platform.discord,
        server_id=guild_id,
        channel_id=channel_id or guild_id,
        channel_name=guild_name[:200] or None,
        data={"guild": {"id": guild_id, "name": guild_name, "owner_id": owner_id}},
        outcome_wanted=False,
    )


def _option_values(options: object) -> list[str]:
    values: list[str] = []
    if not isinstance(options, list):
        return values
    for option in options:
        if not isinstance(option, dict):
            continue
        if option.get("type") in (1, 2):  # sub-command (group): its name, then its options
            values.append(str(option.get("name", "")))
            values.extend(_option_values(option.get("options")))
        elif "value" in option:
            value = str(option["value"])
            # the generated "args" option is the raw argument string; others are one argument
            values.append(value if option.get("name") == ARGS_OPTION else _quote(value))
    return [value for value in values if value]


def interaction_event(payload: Mapping[str, Any], mapping: Mapping[str, Role]) -> Event | None:
    """An APPLICATION_COMMAND interaction → ``/name args`` as ``!name args``."""
    data = payload.get("data")
    if payload.get("type") != 2 or not isinstance(data, dict) or not data.get("name"):
        return None
    member = payload.get("member")
    user_data = (member or {}).get("user") if isinstance(member, dict) else payload.get("user")
    if not isinstance(user_data, dict) or not user_data.get("id"):
        return None
    channel = payload.get("channel_id") or (payload.get("channel") or {}).get("id")
    if not channel:
        return None
    roles = tuple(str(role) for role in (member or {}).get("roles") or [])
    author = Author(
        id=str(user_data["id"]),
        name=str(user_data.get("username") or user_data["id"]),
        display_name=user_data.get("global_name") or (member or {}).get("nick"),
        bot=bool(user_data.get("bot")),
        permissions=parse_permissions((member or {}).get("permissions", "0")),
        role_keys=roles,
    )
    words = [str(data["name"]), *_option_values(data.get("options"))]
    text = "!" + " ".join(words)
    return Event(
        id=str(payload.get("id")),
        type=EventType.command,
        platform=Platform.discord,
        server_id=str(payload.get("guild_id") or DM_SERVER),
        channel_id=str(channel),
        user=author.user(mapping),
        text=text[:4000],
    )


def _quote(word: str) -> str:
    """Keep a multi-word option value one argument for the router's parser."""
    if any(char.isspace() for char in word) and '"' not in word:
        return f'"{word}"'
    return word
