"""What a host may offer modules about community roles (the router does; remote hosts do not).

Chat names people by their username on the platform the command came from (``@name`` or
``name``); the host resolves them. The caller is identified by the account the platform
reported (``ctx.event.user``: its own role and badges, not ``ctx.role``, which already folds
in the community role), so a Twitch broadcaster acts as owner of their channel's community.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from waddlebot.sdk.caller import Caller


class MemberError(Exception):
    """A refusal with a short message meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class MemberRole:
    """One person's community role, named as chat knows them."""

    name: str
    role: str | None  # owner | admin | moderator | member, None: no role here
    from_platform: bool = False  # the role comes from the platform (e.g. broadcaster), not a grant


class MemberOperations(Protocol):
    """Show, grant and revoke community roles; switch commands on and off for a community."""

    async def role_of(
        self, community_id: str, caller: Caller, username: str | None = None
    ) -> MemberRole:
        """The role of ``username`` (on the caller's platform), or the caller's own."""
        ...

    async def grant(
        self, community_id: str, caller: Caller, username: str, role: str
    ) -> MemberRole:
        """Give ``username`` ``role``; :class:`MemberError` when the caller may not."""
        ...

    async def revoke(self, community_id: str, caller: Caller, username: str) -> MemberRole:
        """Take ``username``'s role away; returns the role they had."""
        ...

    async def role_holders(self, community_id: str, platform: str) -> list[MemberRole]:
        """Everyone holding a role here, highest role first, then by name (as known on
        ``platform`` where they have an account there)."""
        ...

    async def set_command_enabled(
        self, community_id: str, caller: Caller, command: str, enabled: bool
    ) -> str:
        """Enable or disable ``command`` (``ping`` or ``!ping``) here; returns ``!ping``."""
        ...
