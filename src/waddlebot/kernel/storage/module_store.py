"""Module data in the database with the cache in front: the :class:`DataStore` behind
``ctx.storage`` in the router and ``waddlebot.sdk.web.storage()`` in a module's REST routes.

It sits in the kernel so both the router and the SDK can use it (kernel ← sdk ← modules;
kernel ← router), with the few pieces of the storage contract it needs itself: the
:class:`Scope`, the key limit and its refusals (``waddlebot.sdk.storage`` builds on them).

Reads go to the cache first (values and misses alike, for :data:`CACHE_TTL` seconds or until
the value expires), so a warm key costs no database query per chat message. Writes go to the
``module_data`` table and then replace the cache entry with a short-lived "just written" mark:
while it is there, readers read the database and cache nothing, and a reader that fetched the
old row before the write cannot put it back (it only fills an empty entry). ``incr`` is one
``UPDATE … SET value = value + n`` (or an ``INSERT … ON CONFLICT DO UPDATE``), atomic on SQLite
and PostgreSQL across processes. Expired rows read as missing; at most every
:data:`PURGE_EVERY` seconds one writer (any process: a flag in the shared cache decides)
deletes them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    null,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy import String as SqlString
from sqlalchemy import Table as SqlTable
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from waddlebot.kernel.backends import KeyValue
from waddlebot.kernel.errors import Invalid
from waddlebot.kernel.storage.database import Database
from waddlebot.kernel.storage.models import as_utc
from waddlebot.kernel.storage.module_data import ModuleDatum

MAX_KEYS = 10_000  # per module and community, user scopes included

CACHE_TTL = 300.0
PURGE_EVERY = 600.0
PURGE_FLAG = "module-data:purged"
MISSING = b""  # cached "no such key" (JSON text is never empty)
WRITTEN = b"\x00"  # "just written": read the database, cache nothing
SETTLE = 5.0  # seconds the mark stays after a write

Table: SqlTable = ModuleDatum.__table__  # type: ignore[assignment] # declared as a Table
COLUMNS = Table.c
PRIMARY_KEY = [COLUMNS.module, COLUMNS.community_id, COLUMNS.scope, COLUMNS.key]


class StorageLimit(Invalid):
    """A key count or counter the store refuses: 422 with the message over REST.

    ``ModuleStorage`` hands modules its subclass ``waddlebot.sdk.storage.StorageRefused``,
    which is also a ``CommandError`` (the reply in chat; modules catch it as one)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose data: a module in a community, optionally one user's key space there."""

    module: str
    community_id: str
    user: str = ""  # "" = the community's own keys


def too_many_keys() -> StorageLimit:
    return StorageLimit(
        f"This module already keeps {MAX_KEYS:,} keys in this community; delete some first."
    )


def not_a_counter(key: str) -> StorageLimit:
    return StorageLimit(f"Storage key {key!r} does not hold a whole number.")


def cache_key(scope: Scope, key: str) -> str:
    """Lengths keep ``user="a:b", key="c"`` apart from ``user="a", key="b:c"``."""
    return f"module-data:{scope.module}:{scope.community_id}:{len(scope.user)}:{scope.user}:{key}"


def _now() -> datetime:
    return datetime.now(UTC)


def _row(scope: Scope, key: str) -> ColumnElement[bool]:
    return and_(
        COLUMNS.module == scope.module,
        COLUMNS.community_id == scope.community_id,
        COLUMNS.scope == scope.user,
        COLUMNS.key == key,
    )


def _expired(now: datetime) -> ColumnElement[bool]:
    return and_(COLUMNS.expires_at.is_not(None), COLUMNS.expires_at <= now)


def _live(now: datetime) -> ColumnElement[bool]:
    return or_(COLUMNS.expires_at.is_(None), COLUMNS.expires_at > now)


class DatabaseDataStore:
    """``module_data`` rows, read through the cache."""

    def __init__(self, db: Database, kv: KeyValue, *, settle: float = SETTLE) -> None:
        self.db = db
        self.kv = kv
        self.settle = settle

    # --- reads --------------------------------------------------------------------------

    async def get(self, scope: Scope, key: str) -> str | None:
        cached = await self.kv.get(cache_key(scope, key))
        if cached is not None and cached != WRITTEN:
            return None if cached == MISSING else cached.decode()
        now = _now()
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(COLUMNS.value, COLUMNS.expires_at).where(_row(scope, key), _live(now))
                )
            ).first()
        ttl = CACHE_TTL
        if row is not None and row.expires_at is not None:
            ttl = min(ttl, (as_utc(row.expires_at) - now).total_seconds())
        if ttl > 0 and cached is None:
            value = MISSING if row is None else row.value.encode()
            await self.kv.set(cache_key(scope, key), value, ttl=ttl, only_if_absent=True)
        return None if row is None else str(row.value)

    async def keys(self, scope: Scope, prefix: str, limit: int) -> list[str]:
        query = (
            select(COLUMNS.key)
            .where(
                COLUMNS.module == scope.module,
                COLUMNS.community_id == scope.community_id,
                COLUMNS.scope == scope.user,
                _live(_now()),
            )
            .order_by(COLUMNS.key)
            .limit(limit)
        )
        if prefix:
            query = query.where(COLUMNS.key.startswith(prefix, autoescape=True))
        async with self.db.session() as session:
            return [str(key) for key in (await session.scalars(query)).all()]

    # --- writes -------------------------------------------------------------------------

    async def set(self, scope: Scope, key: str, value: str, ttl: float | None) -> None:
        now = _now()
        expires = now + timedelta(seconds=ttl) if ttl is not None else None
        fields = {"value": value, "expires_at": expires, "updated_at": now}
        async with self.db.session() as session:
            # the write comes first: on SQLite it takes the write lock before anything is read
            changed = await session.execute(update(Table).where(_row(scope, key)).values(fields))
            if changed.rowcount == 0:  # type: ignore[attr-defined]
                await self._check_room(session, scope, now)
                statement = self._insert(scope, key, fields)
                await session.execute(
                    statement.on_conflict_do_update(
                        index_elements=PRIMARY_KEY,
                        set_=fields,
                    )
                )
        await self._written(scope, key)

    async def delete(self, scope: Scope, key: str) -> bool:
        async with self.db.session() as session:
            gone = await session.execute(
                delete(Table).where(_row(scope, key)).returning(COLUMNS.expires_at)
            )
            rows = gone.all()
        await self._written(scope, key)
        now = _now()
        return any(row.expires_at is None or as_utc(row.expires_at) > now for row in rows)

    async def incr(self, scope: Scope, key: str, amount: int) -> int:
        now = _now()
        expired = _expired(now)
        new_value = case(
            (expired, literal(str(amount))),
            else_=cast(cast(COLUMNS.value, BigInteger) + amount, SqlString),
        )
        changes: dict[str, Any] = {
            "value": new_value,
            "expires_at": case((expired, null()), else_=COLUMNS.expires_at),
            "updated_at": now,
        }
        allowed = or_(expired, self._is_integer())
        async with self.db.session() as session:
            updated = await session.execute(
                update(Table)
                .where(_row(scope, key), allowed)
                .values(changes)
                .returning(COLUMNS.value)
            )
            total = updated.scalar()
            if total is None:
                # Missing, expired-and-unreadable, not a number, or inserted by a concurrent
                # first increment since the UPDATE ran: the upsert below tells them apart.
                if await session.scalar(select(COLUMNS.key).where(_row(scope, key))) is None:
                    await self._check_room(session, scope, now)
                fields = {"value": str(amount), "expires_at": None, "updated_at": now}
                statement = self._insert(scope, key, fields)
                inserted = await session.execute(
                    statement.on_conflict_do_update(
                        index_elements=PRIMARY_KEY,
                        set_=changes,
                        where=allowed,
                    ).returning(COLUMNS.value)
                )
                total = inserted.scalar()
                if total is None:  # the key holds something other than a whole number
                    raise not_a_counter(key)
        await self._written(scope, key)
        return int(total)

    # --- helpers ------------------------------------------------------------------------

    def _insert(self, scope: Scope, key: str, fields: dict[str, Any]) -> Any:
        insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
        return insert(Table).values(
            module=scope.module,
            community_id=scope.community_id,
            scope=scope.user,
            key=key,
            **fields,
        )

    def _is_integer(self) -> ColumnElement[bool]:
        """The stored JSON is a whole number (so the SQL cast cannot fail or mislead)."""
        if self.db.dialect == "postgresql":
            return COLUMNS.value.regexp_match(r"^-?[0-9]{1,18}$")
        return and_(  # at most 18 digits, as on PostgreSQL: the sum cannot overflow
            func.length(COLUMNS.value) <= 19,
            cast(cast(COLUMNS.value, BigInteger), SqlString) == COLUMNS.value,
        )

    async def _check_room(self, session: AsyncSession, scope: Scope, now: datetime) -> None:
        """Refuse a new key past :data:`MAX_KEYS`; expired rows of the scope make room first."""
        module_and_community = and_(
            COLUMNS.module == scope.module, COLUMNS.community_id == scope.community_id
        )
        count = select(func.count()).select_from(Table).where(module_and_community)
        if (await session.scalar(count) or 0) < MAX_KEYS:
            return
        await session.execute(delete(Table).where(module_and_community, _expired(now)))
        if (await session.scalar(count) or 0) >= MAX_KEYS:
            raise too_many_keys()

    async def _written(self, scope: Scope, key: str) -> None:
        """After a committed write: mark the cached value stale; now and then purge."""
        await self.kv.set(cache_key(scope, key), WRITTEN, ttl=self.settle)
        if await self.kv.set(PURGE_FLAG, b"1", ttl=PURGE_EVERY, only_if_absent=True):
            await self.purge()

    async def purge(self, *, batch: int = 1000) -> int:
        """Delete every expired row, ``batch`` rows per transaction (short write locks)."""
        total = 0
        while True:
            doomed = select(*PRIMARY_KEY).where(_expired(_now())).limit(batch)
            async with self.db.session() as session:
                gone = await session.execute(delete(Table).where(tuple_(*PRIMARY_KEY).in_(doomed)))
            count = int(gone.rowcount)  # type: ignore[attr-defined]
            total += count
            if count < batch:
                return total
