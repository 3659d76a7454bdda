"""Per-module storage scoped to one community: ``await ctx.storage.set("count", 3)``.

:class:`ModuleStorage` is what a module sees; it checks the limits and hands JSON text to a
:class:`DataStore`. Where the data lives depends on the host: in the router it is the
``module_data`` table with the cache in front (``waddlebot.kernel.storage.module_store``,
also what a module's REST routes get from ``waddlebot.sdk.web.storage()``); a remote
module reaches the same table through the router's signed host API (``waddlebot.sdk.remote``);
only a module run in isolation without a host URL falls back to :class:`MemoryDataStore`.

Two modules, or two communities using one module, never see each other's data; a user scope
(:meth:`ModuleStorage.for_user`) is a separate key space inside the module's community.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from waddlebot.kernel.storage.module_store import (
    MAX_KEYS,
    Scope,
    StorageLimit,
    not_a_counter,
    too_many_keys,
)
from waddlebot.sdk.errors import CommandError

MAX_KEY = 200
MAX_VALUE = 64 * 1024  # bytes of serialized JSON
MAX_LISTED = 10_000
MAX_AMOUNT = 2**53
MAX_TTL = 10 * 365 * 86_400  # ten years; beyond that, store without a TTL


class StorageRefused(CommandError, StorageLimit):
    """A key, value or key count over the storage limits: a :class:`CommandError` (the reply
    in chat, catchable as one) and a 422 refusal over REST."""


@contextmanager
def _refusals() -> Iterator[None]:
    """What the store refused (the kernel's :class:`StorageLimit`) as a :class:`StorageRefused`."""
    try:
        yield
    except StorageRefused:
        raise
    except StorageLimit as limit:
        raise StorageRefused(limit.message) from None


class DataStore(Protocol):
    """Where a host keeps module data. Values cross as JSON text, already within the limits."""

    async def get(self, scope: Scope, key: str) -> str | None: ...

    async def set(self, scope: Scope, key: str, value: str, ttl: float | None) -> None: ...

    async def delete(self, scope: Scope, key: str) -> bool: ...

    async def incr(self, scope: Scope, key: str, amount: int) -> int: ...

    async def keys(self, scope: Scope, prefix: str, limit: int) -> list[str]: ...


def check_key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        raise StorageRefused(f"Storage keys are 1 to {MAX_KEY} characters.")
    return key


def check_user(user: str) -> str:
    if not isinstance(user, str) or not user or len(user) > MAX_KEY:
        raise StorageRefused(f"Storage user ids are 1 to {MAX_KEY} characters.")
    return user


def check_ttl(ttl: float | None) -> float | None:
    if ttl is not None and not 0 < ttl <= MAX_TTL:
        raise StorageRefused(f"A storage TTL is a number of seconds from 0 to {MAX_TTL:,}.")
    return ttl


def check_amount(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or abs(amount) > MAX_AMOUNT:
        raise StorageRefused(f"Counters move by whole numbers up to {MAX_AMOUNT}.")
    return amount


def encode(value: Any) -> str:
    """``value`` as compact JSON text, refused when it is not JSON or over :data:`MAX_VALUE`."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise StorageRefused(f"Storage values must be JSON ({error}).") from None
    if len(text.encode()) > MAX_VALUE:
        raise StorageRefused(f"Storage values are at most {MAX_VALUE // 1024} KiB as JSON.")
    return text


class ModuleStorage:
    """JSON values of one module in one community (or one user's key space there)."""

    def __init__(self, store: DataStore, module: str, community_id: str, user: str = "") -> None:
        self.store = store
        self.scope = Scope(module, community_id, check_user(user) if user else "")

    def for_user(self, user_id: str) -> ModuleStorage:
        """The same module and community, in ``user_id``'s own key space."""
        return ModuleStorage(
            self.store, self.scope.module, self.scope.community_id, check_user(user_id)
        )

    async def get(self, key: str, default: Any = None) -> Any:
        raw = await self.store.get(self.scope, check_key(key))
        return default if raw is None else json.loads(raw)

    async def set(self, key: str, value: Any, *, ttl: float | None = None) -> None:
        """Store ``value`` (JSON, at most 64 KiB); with ``ttl`` it vanishes after that many s."""
        with _refusals():
            await self.store.set(self.scope, check_key(key), encode(value), check_ttl(ttl))

    async def delete(self, key: str) -> bool:
        """Remove ``key``; True when it existed."""
        return await self.store.delete(self.scope, check_key(key))

    async def incr(self, key: str, amount: int = 1) -> int:
        """Atomically add ``amount`` to an integer (0 when missing); return the new value."""
        with _refusals():
            return await self.store.incr(self.scope, check_key(key), check_amount(amount))

    async def keys(self, prefix: str = "", *, limit: int = 1000) -> list[str]:
        """Live keys starting with ``prefix``, sorted, at most ``limit`` of them."""
        if len(prefix) > MAX_KEY:
            raise StorageRefused(f"Storage keys are 1 to {MAX_KEY} characters.")
        return await self.store.keys(self.scope, prefix, max(0, min(limit, MAX_LISTED)))


class MemoryDataStore:
    """Process memory: for a remote module run without a host URL (tests, local runs).

    Nothing survives the process; the router never uses it.
    """

    def __init__(self) -> None:
        # (module, community) -> (user, key) -> (JSON text, monotonic deadline or None)
        self._data: dict[tuple[str, str], dict[tuple[str, str], tuple[str, float | None]]] = {}

    def _bucket(self, scope: Scope) -> dict[tuple[str, str], tuple[str, float | None]]:
        return self._data.setdefault((scope.module, scope.community_id), {})

    def _live(self, scope: Scope, key: str) -> tuple[str, float | None] | None:
        bucket = self._bucket(scope)
        entry = bucket.get((scope.user, key))
        if entry is not None and entry[1] is not None and entry[1] <= time.monotonic():
            del bucket[(scope.user, key)]
            return None
        return entry

    def _check_room(self, scope: Scope, key: str) -> None:
        bucket = self._bucket(scope)
        if (scope.user, key) in bucket or len(bucket) < MAX_KEYS:
            return
        now = time.monotonic()
        for name in [n for n, (_, expires) in bucket.items() if expires and expires <= now]:
            del bucket[name]
        if len(bucket) >= MAX_KEYS:
            raise too_many_keys()

    async def get(self, scope: Scope, key: str) -> str | None:
        entry = self._live(scope, key)
        return None if entry is None else entry[0]

    async def set(self, scope: Scope, key: str, value: str, ttl: float | None) -> None:
        self._live(scope, key)
        self._check_room(scope, key)
        expires = time.monotonic() + ttl if ttl is not None else None
        self._bucket(scope)[(scope.user, key)] = (value, expires)

    async def delete(self, scope: Scope, key: str) -> bool:
        existed = self._live(scope, key) is not None
        self._bucket(scope).pop((scope.user, key), None)
        return existed

    async def incr(self, scope: Scope, key: str, amount: int) -> int:
        entry = self._live(scope, key)
        if entry is None:
            self._check_room(scope, key)
            total, expires = amount, None
        else:
            number = json.loads(entry[0])
            if isinstance(number, bool) or not isinstance(number, int):
                raise not_a_counter(key)
            total, expires = number + amount, entry[1]
        self._bucket(scope)[(scope.user, key)] = (str(total), expires)
        return total

    async def keys(self, scope: Scope, prefix: str, limit: int) -> list[str]:
        found = [
            key
            for (user, key) in list(self._bucket(scope))
            if user == scope.user and key.startswith(prefix) and self._live(scope, key) is not None
        ]
        return sorted(found)[:limit]


__all__ = [
    "MAX_AMOUNT",
    "MAX_KEY",
    "MAX_KEYS",
    "MAX_LISTED",
    "MAX_TTL",
    "MAX_VALUE",
    "DataStore",
    "MemoryDataStore",
    "ModuleStorage",
    "Scope",
    "StorageLimit",
    "StorageRefused",
    "check_amount",
    "check_key",
    "check_ttl",
    "check_user",
    "encode",
    "not_a_counter",
    "too_many_keys",
]
