"""Spotify as a :class:`~waddlebot.modules.music.provider.MusicProvider`, and the now-playing
poller that feeds ``!song`` and the ``media`` overlay.

The broadcaster's own Spotify app plays the music; WaddleBot searches (``GET /search``),
resolves links (``GET /tracks/{id}``), adds requests to the player's queue
(``POST /me/player/queue``), skips (``POST /me/player/next``) and reads what plays
(``GET /me/player/currently-playing``) with the community's token from
:mod:`.spotify_auth`. Every failure is a refusal whose message is the chat answer: not
connected, reconnect, Premium required, no active device, rate limited ("try again in Ns"),
Spotify down.

The poller is a chain of scheduled jobs per community (:data:`POLL`): each run asks Spotify
what plays, publishes the ``media`` overlay when the track or play state changed, and
schedules the next run — a second after the track should end (at most :data:`PLAYING_EVERY`
seconds away), every :data:`IDLE_EVERY` seconds while nothing plays, and not at all after
:data:`IDLE_RUNS` idle runs. :func:`ensure_polling` (re)starts it; the queue calls it on
``!sr`` and ``!song``. Chain jobs carry a sequence number in their dedupe key, kept in the
module's storage, so a second ``ensure_polling`` while a chain is alive adds nothing. The
OAuth callback does not start it: it has no chat channel for the jobs to run in.

Wiring with the queue (``commands.py``, ``providers.py``)::

    provider = make_provider(ctx_or_request, settings)  # the registry's factory (chat, REST)
    track = await provider.find(ctx.community_id, query)
    await provider.queued(ctx.community_id, track)  # after our queue accepted it
    await ensure_polling(ctx)                       # in !sr, !song and !skip
    spotify.requester_lookup = who_asked            # moves our queue on, names the requester
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import Request

from waddlebot.kernel.errors import Conflict, Forbidden, Invalid, NotFound, Refusal
from waddlebot.kernel.settings import Settings
from waddlebot.modules.music.module import module
from waddlebot.modules.music.provider import Playing, ProviderName, Track
from waddlebot.modules.music.spotify_auth import (
    TIMEOUT,
    SpotifyAccounts,
    SpotifyBusy,
    SpotifyConfig,
    SpotifyUnavailable,
    retry_after,
)
from waddlebot.sdk import Context, web
from waddlebot.sdk.errors import offered

POLL = "spotify-poll"
POLL_STATE = "spotify:poll"  # module storage key: the chain's current sequence number
PLAYING_EVERY = 15.0  # seconds between polls while a track plays, at most
NEAR_END = 1.0  # poll this long after the track should have ended
MIN_EVERY = 2.0
IDLE_EVERY = 30.0  # seconds between polls while nothing plays
IDLE_RUNS = 10  # then stop until ensure_polling() restarts it
MAX_WAIT = 2.0  # a 429 asking to wait longer than this is refused instead of waited out

TRACK_LINK = re.compile(
    r"^(?:https?://open\.spotify\.com/(?:intl-[a-z]{2}(?:-[a-z]{2})?/)?track/|spotify:track:)"
    r"([A-Za-z0-9]{22})(?:[/?#].*)?$",
    re.IGNORECASE,
)
OTHER_LINK = re.compile(r"^(?:https?://open\.spotify\.com/|spotify:)", re.IGNORECASE)


class PremiumRequired(Forbidden):
    def __init__(self) -> None:
        super().__init__(
            "Spotify Premium is required to queue or skip songs; the broadcaster's account "
            "does not have it."
        )


class NoActiveDevice(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "Spotify has no active device: start playing something on Spotify first, then "
            "try again."
        )


class SpotifyProvider:
    """The provider for one installation; per-community state lives in the database."""

    name: ProviderName = "spotify"

    def __init__(
        self,
        accounts: SpotifyAccounts,
        *,
        max_wait: float = MAX_WAIT,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.accounts = accounts
        self.config = accounts.config
        self.max_wait = max_wait
        self.sleep = sleep

    @classmethod
    def of(cls, ctx: Context) -> SpotifyProvider:
        """The provider for a chat handler or scheduled job (a built-in module's host)."""
        settings: Settings = offered(
            ctx.host.settings(), "Spotify is only available in the built-in music module."
        )
        return make_provider(ctx, settings)

    # --- MusicProvider -----------------------------------------------------------------

    async def find(self, community_id: str, query: str) -> Track:
        query = query.strip()
        if not query:
            raise Invalid("Tell me a song: search words or a Spotify track link.")
        link = TRACK_LINK.match(query)
        if link is not None:
            body = await self._json(community_id, "GET", f"/tracks/{link.group(1)}")
            if body is None:
                raise NotFound("That Spotify track does not exist.")
            return self._playable(track_of(body))
        if OTHER_LINK.match(query):
            raise Invalid("Only Spotify track links can be requested (not albums or playlists).")
        params = {"q": query, "type": "track", "limit": "1"}
        body = await self._json(community_id, "GET", "/search", params=params)
        items = ((body or {}).get("tracks") or {}).get("items") or []
        if not items or not isinstance(items[0], dict):
            raise NotFound(f'No Spotify track matches "{query[:80]}".')
        return self._playable(track_of(items[0]))

    async def queued(self, community_id: str, track: Track) -> None:
        params = {"uri": f"spotify:track:{track.id}"}
        await self._call(community_id, "POST", "/me/player/queue", params=params)

    async def skip(self, community_id: str) -> None:
        await self._call(community_id, "POST", "/me/player/next")

    async def now_playing(self, community_id: str) -> Playing | None:
        body = await self._json(community_id, "GET", "/me/player/currently-playing")
        if not body or body.get("currently_playing_type", "track") != "track":
            return None  # nothing, an ad or a podcast episode
        item = body.get("item")
        track = track_of(item) if isinstance(item, dict) else None
        if track is None:
            return None
        return Playing(
            track=track,
            progress_ms=int(body.get("progress_ms") or 0),
            is_playing=bool(body.get("is_playing")),
        )

    # --- HTTP ----------------------------------------------------------------------------

    def _playable(self, track: Track | None) -> Track:
        if track is None:
            raise NotFound("That Spotify track cannot be played here.")
        return track

    async def _json(
        self, community_id: str, method: str, path: str, *, params: dict[str, str] | None = None
    ) -> dict[str, Any] | None:
        response = await self._call(community_id, method, path, params=params)
        if response is None or response.status_code == 204 or not response.content:
            return None
        try:
            body = response.json()
        except ValueError:
            raise SpotifyUnavailable() from None
        return body if isinstance(body, dict) else None

    async def _call(
        self, community_id: str, method: str, path: str, *, params: dict[str, str] | None = None
    ) -> httpx.Response | None:
        """One Web API call with the community's token: a rejected token is refreshed and
        the call retried once; a short 429 is waited out once; errors become refusals.
        Returns None for a 404 outside the player (no such track)."""
        token = await self.accounts.access_token(community_id)
        refreshed = waited = False
        while True:
            try:
                async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                    response = await http.request(
                        method,
                        self.config.api_base + path,
                        params=params,
                        headers={"Authorization": f"Bearer {token}"},
                    )
            except httpx.HTTPError:
                raise SpotifyUnavailable() from None
            status = response.status_code
            if status == 401 and not refreshed:
                token = await self.accounts.access_token(community_id, rejected=token)
                refreshed = True
                continue
            if status == 429:
                wait = retry_after(response)
                if waited or wait > self.max_wait:
                    raise SpotifyBusy(wait)
                await self.sleep(wait)
                waited = True
                continue
            if status < 300:
                return response
            raise self._refusal(path, response)

    def _refusal(self, path: str, response: httpx.Response) -> Refusal:
        status = response.status_code
        reason, message = _error_of(response)
        player = path.startswith("/me/player")
        if reason == "PREMIUM_REQUIRED" or "premium" in message.lower():
            return PremiumRequired()
        if reason == "NO_ACTIVE_DEVICE" or (player and status == 404):
            return NoActiveDevice()
        if status in (400, 404) and path.startswith("/tracks/"):
            return NotFound("That Spotify track does not exist.")
        if status == 401:
            from waddlebot.modules.music.spotify_auth import SpotifyReconnect

            return SpotifyReconnect()
        if status == 403:
            return Forbidden(f"Spotify refused that: {message or 'forbidden'}.")
        return SpotifyUnavailable()


def make_provider(caller: Context | Request, settings: Settings) -> SpotifyProvider:
    """The provider the queue's registry (``providers.py``) builds, in chat (a context: its
    database and host) and in REST (a request: the router's database and host)."""
    if isinstance(caller, Request):
        host, database = web.host(caller), web.database(caller)
    else:
        host, database = caller.host, caller.database
    box = offered(host.secrets(), "Secrets are not available where this module runs.")
    return SpotifyProvider(SpotifyAccounts(database, box, SpotifyConfig.from_settings(settings)))


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """(``reason``, ``message``) of Spotify's ``{"error": {...}}`` body, empty when absent."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("reason") or ""), str(error.get("message") or "")


def track_of(item: dict[str, Any]) -> Track | None:
    """A :class:`Track` from Spotify's track object; None for one it marks unplayable."""
    if item.get("is_playable") is False or not item.get("id"):
        return None
    album = item.get("album") or {}
    images = album.get("images") or []
    art = images[0].get("url", "") if images and isinstance(images[0], dict) else ""
    link = (item.get("external_urls") or {}).get("spotify")
    return Track(
        provider="spotify",
        id=str(item["id"]),
        title=str(item.get("name") or "?"),
        artist=", ".join(str(a.get("name")) for a in item.get("artists") or [] if a.get("name")),
        duration_ms=int(item.get("duration_ms") or 0),
        url=str(link or f"https://open.spotify.com/track/{item['id']}"),
        album=str(album.get("name") or ""),
        art_url=str(art or ""),
        explicit=bool(item.get("explicit")),
    )


# --- the now-playing poller -------------------------------------------------------------------

requester_lookup: Callable[[Context, Track], Awaitable[str]] | None = None
"""Set by the queue: who requested ``track`` in the context's community ("" if nobody), for
the overlay's "requested by" line."""


async def poll(ctx: Context) -> Playing | None:
    """What plays now in the context's community (None: nothing); refusals as the provider's
    (not connected, reconnect, rate limited) — ``!song`` can answer with them."""
    return await SpotifyProvider.of(ctx).now_playing(ctx.community_id)


def next_poll(playing: Playing | None) -> float:
    """Seconds until the next poll: soon after the track ends, idle pace when paused."""
    if playing is None or not playing.is_playing:
        return IDLE_EVERY
    left = (playing.track.duration_ms - playing.progress_ms) / 1000 + NEAR_END
    return max(MIN_EVERY, min(PLAYING_EVERY, left))


def media_card(playing: Playing, requested_by: str = "") -> dict[str, Any]:
    """The ``media`` overlay's content for what plays (lengths in seconds)."""
    track = playing.track
    return {
        "title": track.title,
        "artist": track.artist,
        "album": track.album,
        "art": track.art_url,
        "source": "Spotify",
        "requested_by": requested_by,
        "length": track.duration_ms / 1000,
        "position": playing.progress_ms / 1000,
        "playing": playing.is_playing,
    }


async def ensure_polling(ctx: Context) -> str:
    """Start the poller in this community unless a chain is alive; returns the job id."""
    sequence = int(await ctx.storage.get(POLL_STATE, 0) or 0)
    return await ctx.schedule(
        POLL, after=0, payload={"seq": sequence}, key=f"{POLL}:{sequence}", grace=120
    )


@module.on_schedule(POLL)
async def spotify_poll(ctx: Context) -> None:
    """One poll: publish the overlay on a change, then schedule the next poll (or stop)."""
    job = ctx.job
    payload: dict[str, Any] = dict(job.payload) if job is not None else {}
    sequence = int(payload.get("seq") or 0)
    if int(await ctx.storage.get(POLL_STATE, 0) or 0) != sequence:
        return  # a newer chain took over
    try:
        playing = await poll(ctx)
    except SpotifyBusy as busy:  # rate limited: ask again when Spotify says, change nothing
        await _next(ctx, sequence, busy.retry_after, str(payload.get("shown", "")), payload)
        return
    except SpotifyUnavailable:  # Spotify down for now: keep trying at the idle pace
        failures = int(payload.get("idle") or 0) + 1
        if failures <= IDLE_RUNS:
            shown = str(payload.get("shown", ""))
            await _next(ctx, sequence, IDLE_EVERY, shown, {"idle": failures})
        else:
            await ctx.storage.set(POLL_STATE, sequence + 1)
        return
    except Refusal:  # not connected any more (or reconnect needed): stop
        await ctx.storage.set(POLL_STATE, sequence + 1)
        return
    key = "" if playing is None else f"{playing.track.id}:{playing.is_playing}"
    if key != payload.get("shown", "") and playing is not None:
        requester = await requester_lookup(ctx, playing.track) if requester_lookup else ""
        ctx.overlay("media", media_card(playing, requester))
    idle = 0 if playing is not None and playing.is_playing else int(payload.get("idle") or 0) + 1
    if idle > IDLE_RUNS:
        await ctx.storage.set(POLL_STATE, sequence + 1)
        return
    await _next(ctx, sequence, next_poll(playing), key, {"idle": idle})


async def _next(
    ctx: Context, sequence: int, delay: float, shown: str, payload: dict[str, Any]
) -> None:
    """Schedule poll ``sequence + 1`` (the storage names it the live one first)."""
    await ctx.storage.set(POLL_STATE, sequence + 1)
    await ctx.schedule(
        POLL,
        after=delay,
        payload={"seq": sequence + 1, "shown": shown, "idle": int(payload.get("idle") or 0)},
        key=f"{POLL}:{sequence + 1}",
        grace=120,
    )
