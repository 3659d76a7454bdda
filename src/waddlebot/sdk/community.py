"""What a host may offer modules about a community's own settings (the router does; remote
hosts do not): its time zone, for reminders, calendars and anything that reads a wall-clock
time typed in chat.
"""

from __future__ import annotations

from typing import Protocol

from waddlebot.sdk.caller import Caller


class CommunityOperations(Protocol):
    """Read and change a community's settings."""

    async def timezone(self, community_id: str) -> str:
        """The community's IANA time zone (``Europe/Berlin``), or the installation default."""
        ...

    async def set_timezone(self, community_id: str, caller: Caller, name: str) -> str:
        """Change it (needs ``commands.manage``); returns the zone's canonical name.
        Raises a :class:`waddlebot.kernel.errors.Refusal` for an unknown zone or a caller who
        may not."""
        ...
