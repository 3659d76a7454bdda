"""What a host may offer modules about Twitch (the router does when Twitch is configured;
remote hosts do not): the few Helix calls interaction modules make, with the installation's
app token and the bot account's user token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class TwitchApiError(Exception):
    """Helix refused or failed: ``status`` as Helix answered (429 with ``retry_after``
    seconds; 0 when Twitch could not be reached)."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class TwitchUser:
    id: str
    login: str
    display_name: str
    profile_image_url: str = ""


@dataclass(frozen=True, slots=True)
class TwitchChannel:
    broadcaster_id: str
    game_name: str
    title: str


@dataclass(frozen=True, slots=True)
class TwitchClip:
    id: str
    url: str
    embed_url: str
    thumbnail_url: str
    title: str
    view_count: int
    created_at: datetime


class TwitchOperations(Protocol):
    """Helix for modules. Every call raises :class:`TwitchApiError` on a Helix error."""

    async def user(self, login: str) -> TwitchUser | None:
        """Get Users by login; None when there is no such user."""
        ...

    async def channel(self, broadcaster_id: str) -> TwitchChannel | None:
        """Get Channel Information (last game and title)."""
        ...

    async def clips(
        self, broadcaster_id: str, *, started_at: datetime | None = None, first: int = 20
    ) -> list[TwitchClip]:
        """Get Clips of the broadcaster (since ``started_at``), most viewed first."""
        ...

    async def shoutout(self, from_broadcaster_id: str, to_broadcaster_id: str) -> None:
        """Send Twitch's native shoutout as the bot account (a moderator there)."""
        ...

    async def bot_moderates(self, broadcaster_id: str) -> bool:
        """True where the bot account may act as a moderator: its own channel, or a channel
        connected with ``bot_is_moderator`` (Helix refuses moderator calls elsewhere)."""
        ...
