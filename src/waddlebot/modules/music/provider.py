"""What the song-request queue needs from a music provider (Spotify, YouTube).

The queue (``queue.py``) owns requests, limits, votes and the ``media`` overlay; a provider
turns a query or link into a :class:`Track` and, where the provider plays the music itself
(Spotify), mirrors queue changes onto the player and reports what is playing. Refusals
(no such track, not embeddable, blocked in the region, Premium required, no active device,
not connected) are :class:`waddlebot.kernel.errors.Refusal` with a sentence fit for chat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

ProviderName = Literal["spotify", "youtube"]


@dataclass(frozen=True, slots=True)
class Track:
    """One playable track as the provider describes it."""

    provider: ProviderName
    id: str  # Spotify track id / YouTube video id
    title: str
    artist: str
    duration_ms: int
    url: str  # a link people can open
    album: str = ""
    art_url: str = ""
    explicit: bool = False


@dataclass(frozen=True, slots=True)
class Playing:
    """What the provider's player is playing now (Spotify; YouTube's player overlay reports
    its own position)."""

    track: Track
    progress_ms: int
    is_playing: bool


class MusicProvider(Protocol):
    name: ProviderName

    async def find(self, community_id: str, query: str) -> Track:
        """A link or search words → the track to queue (refusal when none is playable)."""
        ...

    async def queued(self, community_id: str, track: Track) -> None:
        """The track joined our queue: Spotify adds it to the player's queue; YouTube nothing
        (the player overlay plays our queue)."""
        ...

    async def skip(self, community_id: str) -> None:
        """Skip what plays now (Spotify: next on the device; YouTube: the overlay is told)."""
        ...

    async def now_playing(self, community_id: str) -> Playing | None:
        """What plays now, or None (nothing, or the provider cannot tell)."""
        ...
