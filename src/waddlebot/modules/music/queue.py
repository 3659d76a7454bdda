"""The song-request queue of each community: every rule (limits, votes, order) lives here,
used by chat (``commands.py``), REST (``api.py``) and the player overlay's reports.

Durable and shared: all state is in ``music_queue``/``music_settings``/``music_votes``; each
change is one transaction that first locks the community's settings row (``FOR UPDATE`` on
PostgreSQL; SQLite serialises writers), so two processes adding at once get distinct
positions, and two player sockets reporting the same ``ended`` advance the queue once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from waddlebot.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from waddlebot.modules.music.models import (
    PLAYING,
    QUEUED,
    MusicQueueEntry,
    MusicSettings,
    MusicVote,
)
from waddlebot.modules.music.provider import Track
from waddlebot.sdk.database import ModuleDatabase, on_user_merge

MAX_QUEUE = 200
SETTING_FIELDS = (
    "provider",
    "requests_open",
    "max_per_user",
    "max_length_seconds",
    "banned_tracks",
    "banned_artists",
    "explicit_filter",
    "subscriber_only",
    "voteskip_votes",
    "voteskip_percent",
    "volume",
)


@dataclass(frozen=True, slots=True)
class Entry:
    """A queue entry as chat, REST and the overlays see it."""

    id: str
    position: int
    status: str
    provider: str
    track_id: str
    title: str
    artist: str
    album: str
    art_url: str
    url: str
    duration_ms: int
    explicit: bool
    requested_by: str | None
    requester_name: str
    started_at: datetime | None

    @classmethod
    def of(cls, row: MusicQueueEntry) -> Entry:
        started = row.started_at
        if started is not None and started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        return cls(
            id=row.id,
            position=row.position,
            status=row.status,
            provider=row.provider,
            track_id=row.track_id,
            title=row.title,
            artist=row.artist,
            album=row.album,
            art_url=row.art_url,
            url=row.url,
            duration_ms=row.duration_ms,
            explicit=row.explicit,
            requested_by=row.requested_by,
            requester_name=row.requester_name,
            started_at=started,
        )

    @property
    def label(self) -> str:
        """``“Title” by Artist``."""
        return f"“{self.title}” by {self.artist}" if self.artist else f"“{self.title}”"


@dataclass(frozen=True, slots=True)
class Added:
    entry: Entry
    ahead: int  # entries before it (the playing one included)
    started: bool  # it plays now (the queue was empty)


@dataclass(frozen=True, slots=True)
class Vote:
    votes: int
    needed: int
    skipped: Entry | None  # the entry the vote skipped
    next: Entry | None  # what plays now after the skip


def length_text(ms: int) -> str:
    seconds = ms // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"


def needed_votes(row: MusicSettings, chatters: int) -> int:
    """Votes that skip: the smaller of N votes and P % of recent chatters (each when set)."""
    options = []
    if row.voteskip_votes > 0:
        options.append(row.voteskip_votes)
    if row.voteskip_percent > 0 and chatters > 0:
        options.append(max(1, math.ceil(chatters * row.voteskip_percent / 100)))
    return min(options) if options else 1


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


class MusicQueue:
    """The queue and settings of every community, over the installation's database."""

    def __init__(self, db: ModuleDatabase) -> None:
        self.db = db

    # --- settings -------------------------------------------------------------------------

    async def settings(self, community_id: str) -> MusicSettings:
        """The community's settings (defaults when never set; not stored then)."""
        async with self.db.read_session() as session:
            row = await session.get(MusicSettings, community_id)
            if row is not None:
                session.expunge(row)
                return row
        return _defaults(community_id)

    async def counting_chatters(self) -> list[str]:
        """The communities whose ``!voteskip`` counts a percentage of recent chatters: the
        only ones where remembering chatters is worth a thing."""
        async with self.db.read_session() as session:
            found = await session.scalars(
                select(MusicSettings.community_id).where(MusicSettings.voteskip_percent > 0)
            )
            return list(found)

    async def update_settings(self, community_id: str, changes: dict[str, Any]) -> MusicSettings:
        unknown = set(changes) - set(SETTING_FIELDS)
        if unknown:
            raise Invalid(f"Unknown music setting(s): {', '.join(sorted(unknown))}.")
        async with self.db.session() as session:
            row = await self._lock(session, community_id)
            for key, value in changes.items():
                setattr(row, key, value)
            await session.flush()
            session.expunge(row)
        return row

    # --- reading --------------------------------------------------------------------------

    async def current(self, community_id: str) -> Entry | None:
        async with self.db.read_session() as session:
            row = await session.scalar(
                select(MusicQueueEntry).where(
                    MusicQueueEntry.community_id == community_id,
                    MusicQueueEntry.status == PLAYING,
                )
            )
            return Entry.of(row) if row is not None else None

    async def entries(self, community_id: str, *, limit: int = MAX_QUEUE) -> list[Entry]:
        """The playing entry first, then the queue in order."""
        async with self.db.read_session() as session:
            rows = await session.scalars(
                select(MusicQueueEntry)
                .where(MusicQueueEntry.community_id == community_id)
                .order_by((MusicQueueEntry.status == PLAYING).desc(), MusicQueueEntry.position)
                .limit(limit)
            )
            return [Entry.of(row) for row in rows]

    async def upcoming(self, community_id: str, count: int) -> list[Entry]:
        return [e for e in await self.entries(community_id, limit=count + 1) if e.status == QUEUED][
            :count
        ]

    # --- changes --------------------------------------------------------------------------

    async def add(
        self,
        community_id: str,
        track: Track,
        *,
        user_id: str | None,
        name: str,
        subscriber: bool,
        moderator: bool,
        now: datetime,
        start: bool = True,
    ) -> Added:
        """Queue ``track`` for ``user_id`` under the community's limits (a refusal says which
        one); it starts at once when nothing plays, unless ``start`` is False (Spotify: the
        player decides, and :meth:`follow` marks it playing when the poller sees it)."""
        async with self.db.session() as session:
            row = await self._lock(session, community_id)
            self._check(row, track, subscriber=subscriber, moderator=moderator)
            entries = list(
                await session.scalars(
                    select(MusicQueueEntry).where(MusicQueueEntry.community_id == community_id)
                )
            )
            if len(entries) >= MAX_QUEUE:
                raise Conflict(f"The queue is full ({MAX_QUEUE} songs).")
            if any(e.provider == track.provider and e.track_id == track.id for e in entries):
                raise Conflict(f"“{track.title}” is already in the queue.")
            mine = sum(1 for e in entries if user_id is not None and e.requested_by == user_id)
            if not moderator and row.max_per_user > 0 and mine >= row.max_per_user:
                raise Conflict(
                    f"You have {mine} song(s) in the queue already (the limit is "
                    f"{row.max_per_user}); wait until one plays, or !wrongsong."
                )
            playing = any(e.status == PLAYING for e in entries)
            begins = start and not playing
            position = max((e.position for e in entries), default=0) + 1
            entry = MusicQueueEntry(
                community_id=community_id,
                position=position,
                status=PLAYING if begins else QUEUED,
                provider=track.provider,
                track_id=track.id[:100],
                title=track.title[:300],
                artist=track.artist[:300],
                album=track.album[:300],
                art_url=track.art_url[:1000],
                url=track.url[:1000],
                duration_ms=track.duration_ms,
                explicit=track.explicit,
                requested_by=user_id,
                requester_name=name[:200],
                started_at=now if begins else None,
            )
            session.add(entry)
            await session.flush()
            # its place as chat shows it: #1 = next (with nothing playing, nobody is ahead)
            ahead = len(entries) + (0 if playing or begins else 1)
            return Added(entry=Entry.of(entry), ahead=ahead, started=begins)

    def _check(
        self, row: MusicSettings, track: Track, *, subscriber: bool, moderator: bool
    ) -> None:
        if not row.requests_open and not moderator:
            raise Forbidden("Song requests are off right now.")
        if row.subscriber_only and not subscriber:
            raise Forbidden("Song requests are for subscribers only right now.")
        limit = row.max_length_seconds
        if limit > 0 and track.duration_ms > limit * 1000:
            raise Invalid(
                f"“{track.title}” is {length_text(track.duration_ms)} long; the limit here is "
                f"{length_text(limit * 1000)}."
            )
        if row.explicit_filter and track.explicit:
            raise Invalid(f"“{track.title}” is marked explicit, and explicit songs are off here.")
        banned_tracks = {_norm(str(t)) for t in row.banned_tracks or []}
        if (
            _norm(track.id) in banned_tracks
            or _norm(track.url) in banned_tracks
            or (_norm(track.title) in banned_tracks)
        ):
            raise Forbidden(f"“{track.title}” is banned here.")
        artist = _norm(track.artist)
        for banned in row.banned_artists or []:
            if artist and _norm(str(banned)) == artist:
                raise Forbidden(f"Songs by {track.artist} are banned here.")

    async def remove_last(self, community_id: str, user_id: str) -> Entry:
        """``!wrongsong``: the caller's latest request that is still waiting."""
        async with self.db.session() as session:
            await self._lock(session, community_id)
            row = await session.scalar(
                select(MusicQueueEntry)
                .where(
                    MusicQueueEntry.community_id == community_id,
                    MusicQueueEntry.requested_by == user_id,
                    MusicQueueEntry.status == QUEUED,
                )
                .order_by(MusicQueueEntry.position.desc())
                .limit(1)
            )
            if row is None:
                raise NotFound("You have no song waiting in the queue.")
            entry = Entry.of(row)
            await session.delete(row)
            return entry

    async def remove(self, community_id: str, entry_id: str) -> Entry:
        """Remove one waiting entry (REST); the playing one is skipped, not removed."""
        async with self.db.session() as session:
            await self._lock(session, community_id)
            row = await self._entry(session, community_id, entry_id)
            if row.status == PLAYING:
                raise Conflict("That song is playing now; skip it instead.")
            entry = Entry.of(row)
            await session.delete(row)
            return entry

    async def discard(self, community_id: str, entry_id: str) -> None:
        """Undo a request the provider's player refused right after it was stored."""
        async with self.db.session() as session:
            await self._lock(session, community_id)
            await session.execute(
                delete(MusicQueueEntry).where(
                    MusicQueueEntry.community_id == community_id, MusicQueueEntry.id == entry_id
                )
            )

    async def move(self, community_id: str, entry_id: str, position: int) -> list[Entry]:
        """Put a waiting entry at ``position`` (1 = next) and renumber the queue."""
        if position < 1:
            raise Invalid("Positions start at 1 (the next song).")
        async with self.db.session() as session:
            await self._lock(session, community_id)
            row = await self._entry(session, community_id, entry_id)
            if row.status == PLAYING:
                raise Conflict("That song is playing now; it cannot move.")
            waiting = list(
                await session.scalars(
                    select(MusicQueueEntry)
                    .where(
                        MusicQueueEntry.community_id == community_id,
                        MusicQueueEntry.status == QUEUED,
                    )
                    .order_by(MusicQueueEntry.position)
                )
            )
            waiting.remove(row)
            waiting.insert(min(position, len(waiting) + 1) - 1, row)
            base = await session.scalar(
                select(func.min(MusicQueueEntry.position)).where(
                    MusicQueueEntry.community_id == community_id
                )
            )
            start = (base or 0) + 1
            for offset, item in enumerate(waiting):
                item.position = start + offset
            await session.flush()
        return await self.entries(community_id)

    async def clear(self, community_id: str) -> int:
        """Remove every waiting entry (what plays now goes on)."""
        async with self.db.session() as session:
            await self._lock(session, community_id)
            result = await session.execute(
                delete(MusicQueueEntry).where(
                    MusicQueueEntry.community_id == community_id,
                    MusicQueueEntry.status == QUEUED,
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def advance(
        self, community_id: str, finished: str | None, *, now: datetime, start: bool = True
    ) -> tuple[Entry | None, Entry | None]:
        """The entry ``finished`` (None: whatever plays) is done: drop it and start the next
        (unless ``start`` is False: Spotify's player decides what comes next).
        Returns (the finished entry, the next one); (None, None) when ``finished`` is not the
        playing entry any more (another socket or a skip got there first)."""
        async with self.db.session() as session:
            await self._lock(session, community_id)
            return await self._advance(session, community_id, finished, now, start)

    async def follow(
        self, community_id: str, provider: str, track_id: str | None, *, now: datetime
    ) -> Entry | None:
        """The provider's player (Spotify) plays ``track_id`` now (None: nothing): make our
        queue agree, in one transaction. The playing entry of another track is done; the
        first waiting entry of this track plays, and waiting entries queued before it are
        dropped (the player played or skipped them while nobody looked). With nothing
        playing, the playing entry is done once its length has passed. Returns the entry
        playing now when it is this track (its requester is known), else None."""
        async with self.db.session() as session:
            await self._lock(session, community_id)
            current = await session.scalar(
                select(MusicQueueEntry).where(
                    MusicQueueEntry.community_id == community_id,
                    MusicQueueEntry.status == PLAYING,
                )
            )
            if current is not None:
                if current.provider == provider and current.track_id == track_id:
                    return Entry.of(current)
                started = Entry.of(current).started_at
                ended = started is None or (now - started).total_seconds() * 1000 >= (
                    current.duration_ms
                )
                if track_id is not None or ended:
                    await session.delete(current)
                    await session.flush()
            if track_id is None:
                return None
            match = await session.scalar(
                select(MusicQueueEntry)
                .where(
                    MusicQueueEntry.community_id == community_id,
                    MusicQueueEntry.status == QUEUED,
                    MusicQueueEntry.provider == provider,
                    MusicQueueEntry.track_id == track_id,
                )
                .order_by(MusicQueueEntry.position)
                .limit(1)
            )
            if match is None:
                return None
            await session.execute(
                delete(MusicQueueEntry).where(
                    MusicQueueEntry.community_id == community_id,
                    MusicQueueEntry.status == QUEUED,
                    MusicQueueEntry.provider == provider,
                    MusicQueueEntry.position < match.position,
                )
            )
            match.status, match.started_at = PLAYING, now
            await session.flush()
            return Entry.of(match)

    async def _advance(
        self,
        session: AsyncSession,
        community_id: str,
        finished: str | None,
        now: datetime,
        start: bool = True,
    ) -> tuple[Entry | None, Entry | None]:
        row = await session.scalar(
            select(MusicQueueEntry).where(
                MusicQueueEntry.community_id == community_id, MusicQueueEntry.status == PLAYING
            )
        )
        if row is None or (finished is not None and row.id != finished):
            return None, None
        done = Entry.of(row)
        await session.delete(row)
        await session.flush()
        upcoming = await session.scalar(
            select(MusicQueueEntry)
            .where(MusicQueueEntry.community_id == community_id, MusicQueueEntry.status == QUEUED)
            .order_by(MusicQueueEntry.position)
            .limit(1)
        )
        if upcoming is None or not start:
            return done, None
        upcoming.status, upcoming.started_at = PLAYING, now
        await session.flush()
        return done, Entry.of(upcoming)

    async def vote(
        self, community_id: str, voter: str, chatters: int, *, now: datetime, start: bool = True
    ) -> Vote:
        """``!voteskip``: count the caller's vote on what plays; skip at the threshold (the
        next one starts unless ``start`` is False, as in :meth:`advance`)."""
        async with self.db.session() as session:
            row = await self._lock(session, community_id)
            playing = await session.scalar(
                select(MusicQueueEntry).where(
                    MusicQueueEntry.community_id == community_id,
                    MusicQueueEntry.status == PLAYING,
                )
            )
            if playing is None:
                raise NotFound("Nothing is playing.")
            exists = await session.scalar(
                select(MusicVote.id).where(
                    MusicVote.entry_id == playing.id, MusicVote.voter == voter
                )
            )
            if exists is None:
                session.add(MusicVote(entry_id=playing.id, voter=voter))
                await session.flush()
            votes = int(
                await session.scalar(
                    select(func.count())
                    .select_from(MusicVote)
                    .where(MusicVote.entry_id == playing.id)
                )
                or 0
            )
            needed = needed_votes(row, chatters)
            if exists is not None and votes < needed:
                raise Conflict(f"You voted already ({votes}/{needed} to skip).")
            if votes < needed:
                return Vote(votes=votes, needed=needed, skipped=None, next=None)
            done, following = await self._advance(session, community_id, playing.id, now, start)
            return Vote(votes=votes, needed=needed, skipped=done, next=following)

    # --- helpers --------------------------------------------------------------------------

    async def _entry(
        self, session: AsyncSession, community_id: str, entry_id: str
    ) -> MusicQueueEntry:
        row = await session.get(MusicQueueEntry, entry_id)
        if row is None or row.community_id != community_id:
            raise NotFound("That song is not in the queue.")
        return row

    async def _lock(self, session: AsyncSession, community_id: str) -> MusicSettings:
        """The community's settings row, created if missing and locked for this
        transaction: every queue change goes through here first."""
        values = {
            **_default_values(),
            "community_id": community_id,
            "updated_at": datetime.now(UTC),
        }
        insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
        try:
            await session.execute(insert(MusicSettings).values(**values).on_conflict_do_nothing())
        except IntegrityError:  # the community does not exist (foreign key)
            raise NotFound("That community does not exist.") from None
        row = await session.scalar(
            select(MusicSettings)
            .where(MusicSettings.community_id == community_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return row


def _default_values() -> dict[str, Any]:
    return {
        "provider": "youtube",
        "requests_open": True,
        "max_per_user": 3,
        "max_length_seconds": 600,
        "banned_tracks": [],
        "banned_artists": [],
        "explicit_filter": False,
        "subscriber_only": False,
        "voteskip_votes": 5,
        "voteskip_percent": 0,
        "volume": 50,
    }


def _defaults(community_id: str) -> MusicSettings:
    return MusicSettings(community_id=community_id, **_default_values())


@on_user_merge
async def _merge(session: AsyncSession, absorbed: str, kept: str) -> None:
    """Requests and votes of a merged account become the kept user's."""
    await session.execute(
        update(MusicQueueEntry)
        .where(MusicQueueEntry.requested_by == absorbed)
        .values(requested_by=kept)
    )
    kept_votes = select(MusicVote.entry_id).where(MusicVote.voter == kept)
    await session.execute(
        delete(MusicVote).where(MusicVote.voter == absorbed, MusicVote.entry_id.in_(kept_votes))
    )
    await session.execute(update(MusicVote).where(MusicVote.voter == absorbed).values(voter=kept))
