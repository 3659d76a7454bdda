"""Song requests over REST (``/api/music/v1``, mounted by the router service): the queue
(members read it; ``music.manage`` removes, moves and clears), what plays now (asked of
Spotify's player when the community plays on Spotify) and the community's settings
(members read them; ``music.manage`` changes them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Request
from pydantic import BaseModel, ConfigDict, Field

from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.modules.music.models import MusicSettings
from waddlebot.modules.music.module import module
from waddlebot.modules.music.providers import provider_for
from waddlebot.modules.music.queue import Entry, MusicQueue
from waddlebot.sdk import web
from waddlebot.sdk.web import Principal, Reader, needs

api = module.api()
logger = get_logger(__name__)

MANAGE = "music.manage"
Manager = Annotated[Principal, needs(MANAGE)]
EntryId = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,32}$", description="the entry's id")]


class EntryOut(BaseModel):
    id: str
    position: int = Field(description="1 = playing now (when something plays), then in order")
    status: Literal["playing", "queued"]
    provider: str
    track_id: str
    title: str
    artist: str
    album: str
    art_url: str
    url: str
    duration_ms: int
    explicit: bool
    requested_by: str | None = Field(description="WaddleBot user id of the requester")
    requester_name: str
    started_at: datetime | None


class QueueOut(BaseModel):
    community_id: str
    entries: list[EntryOut]


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entry_id: str = Field(pattern=r"^[A-Za-z0-9]{1,32}$")
    position: int = Field(ge=1, le=1000, description="1 = the next song to play")


class Cleared(BaseModel):
    community_id: str
    removed: int


class NowPlayingOut(BaseModel):
    community_id: str
    provider: Literal["youtube", "spotify"]
    playing: bool = Field(description="something plays (false: nothing, or paused)")
    title: str | None = None
    artist: str | None = None
    url: str | None = None
    duration_ms: int | None = None
    progress_ms: int | None = Field(default=None, description="Spotify only")
    entry_id: str | None = Field(default=None, description="the queue entry, if a request")
    requester_name: str | None = None


class SettingsOut(BaseModel):
    community_id: str
    provider: Literal["youtube", "spotify"]
    requests_open: bool
    max_per_user: int
    max_length_seconds: int
    banned_tracks: list[str]
    banned_artists: list[str]
    explicit_filter: bool
    subscriber_only: bool
    voteskip_votes: int
    voteskip_percent: int
    volume: int


class SettingsIn(BaseModel):
    """Fields to change (PUT and PATCH both change only what is sent)."""

    model_config = ConfigDict(extra="forbid")
    provider: Literal["youtube", "spotify"] | None = None
    requests_open: bool | None = None
    max_per_user: int | None = Field(default=None, ge=0, le=100, description="0: no limit")
    max_length_seconds: int | None = Field(default=None, ge=0, le=86_400, description="0: none")
    banned_tracks: list[Annotated[str, Field(min_length=1, max_length=300)]] | None = Field(
        default=None, max_length=500, description="track ids, links or exact titles"
    )
    banned_artists: list[Annotated[str, Field(min_length=1, max_length=300)]] | None = Field(
        default=None, max_length=500
    )
    explicit_filter: bool | None = None
    subscriber_only: bool | None = None
    voteskip_votes: int | None = Field(default=None, ge=0, le=10_000, description="0: off")
    voteskip_percent: int | None = Field(default=None, ge=0, le=100, description="0: off")
    volume: int | None = Field(default=None, ge=0, le=100)


def _queue(request: Request) -> MusicQueue:
    return MusicQueue(web.database(request))


def _entries(entries: list[Entry]) -> list[EntryOut]:
    return [
        EntryOut(
            id=e.id,
            position=i,
            status="playing" if e.status == "playing" else "queued",
            provider=e.provider,
            track_id=e.track_id,
            title=e.title,
            artist=e.artist,
            album=e.album,
            art_url=e.art_url,
            url=e.url,
            duration_ms=e.duration_ms,
            explicit=e.explicit,
            requested_by=e.requested_by,
            requester_name=e.requester_name,
            started_at=e.started_at,
        )
        for i, e in enumerate(entries, 1)
    ]


def _settings(row: MusicSettings) -> SettingsOut:
    return SettingsOut(
        community_id=row.community_id,
        provider="spotify" if row.provider == "spotify" else "youtube",
        requests_open=row.requests_open,
        max_per_user=row.max_per_user,
        max_length_seconds=row.max_length_seconds,
        banned_tracks=[str(t) for t in row.banned_tracks or []],
        banned_artists=[str(a) for a in row.banned_artists or []],
        explicit_filter=row.explicit_filter,
        subscriber_only=row.subscriber_only,
        voteskip_votes=row.voteskip_votes,
        voteskip_percent=row.voteskip_percent,
        volume=row.volume,
    )


def _audit(principal: Principal, community_id: str, action: str, **fields: Any) -> None:
    log_event(
        logger,
        Category.AUDIT,
        action,
        "ok",
        community=community_id,
        user=web.actor(principal),
        **fields,
    )


@api.get("/communities/{community_id}/queue")
async def queue_list(community_id: str, request: Request, _: Reader) -> QueueOut:
    """What plays now (first) and the waiting requests in order."""
    entries = await _queue(request).entries(community_id)
    return QueueOut(community_id=community_id, entries=_entries(entries))


@api.delete("/communities/{community_id}/queue/{entry_id}")
async def queue_remove(
    community_id: str, entry_id: EntryId, request: Request, principal: Manager
) -> EntryOut:
    """Remove one waiting request (the playing one is skipped in chat, not removed)."""
    entry = await _queue(request).remove(community_id, entry_id)
    _audit(principal, community_id, "music_remove", entry=entry.id)
    return _entries([entry])[0]


@api.post("/communities/{community_id}/queue/move")
async def queue_move(
    community_id: str, body: MoveIn, request: Request, principal: Manager
) -> QueueOut:
    """Move a waiting request to ``position`` among the waiting ones (1 = next)."""
    entries = await _queue(request).move(community_id, body.entry_id, body.position)
    _audit(principal, community_id, "music_move", entry=body.entry_id, position=body.position)
    return QueueOut(community_id=community_id, entries=_entries(entries))


@api.delete("/communities/{community_id}/queue")
async def queue_clear(community_id: str, request: Request, principal: Manager) -> Cleared:
    """Remove every waiting request; what plays now goes on."""
    removed = await _queue(request).clear(community_id)
    _audit(principal, community_id, "music_clear", removed=removed)
    return Cleared(community_id=community_id, removed=removed)


@api.get("/communities/{community_id}/playing")
async def now_playing(community_id: str, request: Request, _: Reader) -> NowPlayingOut:
    """What plays now and who requested it. On Spotify the player is asked (and the queue
    follows it, as the poller does); refusals such as "not connected" answer 409/403."""
    queue = _queue(request)
    row = await queue.settings(community_id)
    if row.provider != "spotify":
        entry = await queue.current(community_id)
        if entry is None:
            return NowPlayingOut(community_id=community_id, provider="youtube", playing=False)
        return NowPlayingOut(
            community_id=community_id,
            provider="youtube",
            playing=True,
            title=entry.title,
            artist=entry.artist,
            url=entry.url,
            duration_ms=entry.duration_ms,
            entry_id=entry.id,
            requester_name=entry.requester_name,
        )
    playing = await provider_for(request, row).now_playing(community_id)
    track_id = playing.track.id if playing is not None else None
    entry = await queue.follow(community_id, "spotify", track_id, now=datetime.now(UTC))
    if playing is None:
        return NowPlayingOut(community_id=community_id, provider="spotify", playing=False)
    return NowPlayingOut(
        community_id=community_id,
        provider="spotify",
        playing=playing.is_playing,
        title=playing.track.title,
        artist=playing.track.artist,
        url=playing.track.url,
        duration_ms=playing.track.duration_ms,
        progress_ms=playing.progress_ms,
        entry_id=entry.id if entry is not None else None,
        requester_name=entry.requester_name if entry is not None else None,
    )


@api.get("/communities/{community_id}/settings")
async def settings_get(community_id: str, request: Request, _: Reader) -> SettingsOut:
    return _settings(await _queue(request).settings(community_id))


async def save_settings(request: Request, community_id: str, changes: dict[str, Any]) -> Any:
    """Store settings changes (REST and the portal): a vote-skip percentage moving changes
    where chat lines are counted (``commands.chatter``), so the routers re-read that."""
    row = await _queue(request).update_settings(community_id, changes)
    if "voteskip_percent" in changes:
        await web.host(request).reload_commands()
    return row


async def _change(
    community_id: str, body: SettingsIn, request: Request, principal: Principal
) -> SettingsOut:
    changes = body.model_dump(exclude_none=True)
    row = await save_settings(request, community_id, changes)
    _audit(principal, community_id, "music_settings", fields=",".join(sorted(changes)))
    return _settings(row)


@api.put("/communities/{community_id}/settings")
async def settings_put(
    community_id: str, body: SettingsIn, request: Request, principal: Manager
) -> SettingsOut:
    return await _change(community_id, body, request, principal)


@api.patch("/communities/{community_id}/settings")
async def settings_patch(
    community_id: str, body: SettingsIn, request: Request, principal: Manager
) -> SettingsOut:
    return await _change(community_id, body, request, principal)
