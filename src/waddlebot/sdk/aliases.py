"""What a host may offer modules about a community's aliases (the router does; remote hosts
do not).

An alias is a name for a command line, like a shell alias: ``!so`` → ``!shoutout $1``. The
router expands it and runs the result through its whole pipeline as if the caller had typed
it, so permissions, cooldowns and rate limits are the target's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from waddlebot.sdk.caller import Caller


class AliasError(Exception):
    """A refusal with a short message meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class AliasInfo:
    """One alias of a community: ``!name`` runs ``target`` (``$1``…``$9``, ``$@``, ``$user``)."""

    name: str
    target: str


class AliasOperations(Protocol):
    """List, show, define and remove a community's aliases."""

    async def aliases(self, community_id: str) -> list[AliasInfo]:
        """The community's aliases, by name."""
        ...

    async def alias(self, community_id: str, name: str) -> AliasInfo | None:
        """One alias (``so`` or ``!so``), or None."""
        ...

    async def define(
        self, community_id: str, caller: Caller, name: str, target: str
    ) -> tuple[AliasInfo, bool]:
        """Create or replace an alias; returns it and whether it is new. :class:`AliasError`
        when the name is taken by a command, the target is not a command line, or the alias
        would make a loop or a chain deeper than the limit."""
        ...

    async def remove(self, community_id: str, caller: Caller, name: str) -> AliasInfo:
        """Delete an alias; returns what it was."""
        ...
