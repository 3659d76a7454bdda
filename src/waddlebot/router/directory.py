"""Who and where: entity → community, platform account → user.

Every answer is cached in the shared key-value store with a TTL, so the database is touched
once per new channel or new chatter, not once per message. Unknown entities and users are
registered on first sight; concurrent first sightings converge on one row.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from waddlebot.kernel.backends import KeyValue
from waddlebot.kernel.contracts import Event, UserRef
from waddlebot.kernel.contracts.names import identity_cache_key
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import (
    Community,
    Entity,
    PlatformIdentity,
    User,
)

logger = get_logger(__name__)
T = TypeVar("T")

ENTITY_TTL = 3600.0
IDENTITY_TTL = 600.0
MAX_KNOWN_PLACES = 100_000  # channels remembered in process; the memo starts over beyond it


@dataclass(frozen=True, slots=True)
class Place:
    entity_id: str
    community_id: str


Known = Mapping[str, bytes | None]  # cache values already read (one MGET for several lookups)


def entity_cache_key(event: Event) -> str:
    return f"entity:{event.platform.value}:{event.server_id}:{event.channel_id}"


class Directory:
    def __init__(self, db: Database, kv: KeyValue) -> None:
        self.db = db
        self.kv = kv
        # A channel's entity and community never change once registered (nothing moves or
        # deletes entities), so each process remembers them: no cache read per message.
        self._places: dict[str, Place] = {}

    def known_place(self, event: Event) -> Place | None:
        """The event's channel as this process already knows it, without any I/O."""
        return self._places.get(entity_cache_key(event))

    async def place(self, event: Event, known: Known | None = None) -> Place:
        """The entity and community of the event's channel, registering them if new.

        ``known``: values already read from the cache, by key (see :func:`entity_cache_key`).
        """
        key = entity_cache_key(event)
        remembered = self._places.get(key)
        if remembered is not None:
            return remembered
        cached = await _cached(self.kv, key, known)
        if cached is not None:
            entity_id, _, community_id = cached.decode().partition("|")
            place = Place(entity_id, community_id)
        else:
            place = await _first_sight(
                lambda: self._find_entity(event), lambda: self._add_entity(event)
            )
            await self.kv.set(key, f"{place.entity_id}|{place.community_id}", ttl=ENTITY_TTL)
        if len(self._places) >= MAX_KNOWN_PLACES:
            self._places.clear()
        self._places[key] = place
        return place

    async def user_id(
        self,
        platform: str,
        user: UserRef,
        server_id: str | None = None,
        known: Known | None = None,
    ) -> str:
        """The WaddleBot user behind a platform account, registering them if new.

        The stored username (and home server) follow the account: people rename themselves,
        and linking finds accounts by their current name.
        """
        key = identity_cache_key(platform, user.id)
        seen = [user.name, server_id]
        cached = await _cached(self.kv, key, known)
        if cached is not None:
            user_id, *remembered = json.loads(cached)
            if remembered == seen:
                return str(user_id)
            await self._refresh_account(platform, user, server_id)
        else:
            user_id = await _first_sight(
                lambda: self._find_user(platform, user, server_id),
                lambda: self._add_user(platform, user, server_id),
            )
        await self.kv.set(key, json.dumps([user_id, *seen]), ttl=IDENTITY_TTL)
        return str(user_id)

    async def _find_entity(self, event: Event) -> Place | None:
        async with self.db.session() as session:
            row = await session.scalar(
                select(Entity).where(
                    Entity.platform == event.platform.value,
                    Entity.server_id == event.server_id,
                    Entity.channel_id == event.channel_id,
                )
            )
        return Place(row.id, row.community_id) if row else None

    async def _add_entity(self, event: Event) -> Place:
        name = event.channel_name or event.channel_id
        async with self.db.session() as session:
            community = Community(name=name)
            session.add(community)
            await session.flush()
            entity = Entity(
                platform=event.platform.value,
                server_id=event.server_id,
                channel_id=event.channel_id,
                name=name,
                community_id=community.id,
            )
            session.add(entity)
        log_event(
            logger,
            Category.AUDIT,
            "entity_registered",
            "ok",
            community=community.id,
            platform=event.platform.value,
            server=event.server_id,
            channel=event.channel_id,
        )
        return Place(entity.id, community.id)

    async def _find_user(self, platform: str, user: UserRef, server_id: str | None) -> str | None:
        found = await self._refresh_account(platform, user, server_id)
        return found.user_id if found is not None else None

    async def _refresh_account(
        self, platform: str, user: UserRef, server_id: str | None
    ) -> PlatformIdentity | None:
        """The stored account, its username and home server brought up to date."""
        async with self.db.session() as session:
            found = await session.scalar(
                select(PlatformIdentity).where(
                    PlatformIdentity.platform == platform,
                    PlatformIdentity.platform_user_id == user.id,
                )
            )
            if found is not None and (found.username, found.server_id) != (user.name, server_id):
                if found.username != user.name:
                    log_event(
                        logger,
                        Category.AUDIT,
                        "username_changed",
                        "ok",
                        user=found.user_id,
                        platform=platform,
                        platform_user=user.id,
                        previous=found.username,
                        current=user.name,
                    )
                found.username = user.name
                found.server_id = server_id or found.server_id
        return found

    async def _add_user(self, platform: str, user: UserRef, server_id: str | None) -> str:
        async with self.db.session() as session:
            row = User(display_name=user.display_name or user.name)
            session.add(row)
            await session.flush()
            session.add(
                PlatformIdentity(
                    user_id=row.id,
                    platform=platform,
                    platform_user_id=user.id,
                    username=user.name,
                    server_id=server_id,
                )
            )
        return row.id


async def _first_sight(
    find: Callable[[], Awaitable[T | None]], add: Callable[[], Awaitable[T]]
) -> T:
    """Find a row, or add it; if a concurrent worker added it first, find theirs."""
    found = await find()
    if found is not None:
        return found
    try:
        return await add()
    except IntegrityError:
        found = await find()
        if found is None:
            raise
        return found


async def _cached(kv: KeyValue, key: str, known: Known | None) -> bytes | None:
    if known is not None and key in known:
        return known[key]
    return await kv.get(key)
