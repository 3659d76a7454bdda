"""What a host may offer a module about a community's custom commands (the router does).

The built-in ``custom-commands`` module manages them from chat (``!command add|edit|remove|
show``) and answers them; the host owns the storage, the checks every writer shares (name
free, template valid, role and cooldown in range) and the command table the router reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from waddlebot.sdk.caller import Caller


class CustomCommandError(Exception):
    """A refusal with a short message meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class CustomCommandInfo:
    """One custom command as chat and REST show it."""

    name: str  # trigger without "!"
    response: str
    cooldown: float
    role: str  # everyone | subscriber | vip | moderator | broadcaster
    enabled: bool
    count: int
    created_by: str | None
    updated_by: str | None
    created_at: datetime
    updated_at: datetime


class CustomCommandOperations(Protocol):
    """Create, change, remove, show and count custom commands of one community."""

    async def save(
        self,
        community_id: str,
        caller: Caller | None,
        name: str,
        response: str | None,
        *,
        cooldown: float | None = None,
        role: str | None = None,
        create: bool,
    ) -> CustomCommandInfo:
        """Add (``create``) or edit a command; omitted options keep their value (edit) or
        default (add). :class:`CustomCommandError` when the name is taken, the template is
        invalid or the command is missing."""
        ...

    async def remove(self, community_id: str, caller: Caller | None, name: str) -> str:
        """Delete the command; returns ``!name``."""
        ...

    async def show(self, community_id: str, name: str) -> CustomCommandInfo:
        """The command as stored now (its counter included)."""
        ...

    async def find(self, community_id: str, name: str) -> CustomCommandInfo | None:
        """The command (from a per-process cache, reloaded when commands change)."""
        ...

    async def count_use(self, community_id: str, name: str) -> int:
        """Add one to the command's durable counter and return the new value (atomic)."""
        ...
