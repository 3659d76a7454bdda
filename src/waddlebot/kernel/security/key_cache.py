"""Recently verified API keys, so a key is checked against the database once per few
seconds instead of on every request (it was about a tenth of a busy server's time).

Entries are keyed by the SHA-256 of the presented key (what ``api_keys`` stores), never the
key. An entry lives :data:`KEY_CACHE_TTL` seconds at most, and never past the key's own
expiry. Revoking a key forgets it at once in the revoking process and announces its hash on
pub/sub (:data:`KEYS_REVOKED`), so every other process following the channel forgets it too;
a process that misses the message (Redis reconnecting, a CLI without a backend) still stops
accepting the key within the TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime

from waddlebot.kernel.backends.base import PubSub
from waddlebot.kernel.security.api_keys import Principal
from waddlebot.kernel.supervision import TaskHealth, supervise

KEY_CACHE_TTL = 5.0
KEYS_REVOKED = "api-keys:revoked"  # pub/sub: the SHA-256 of a key just revoked
MAX_ENTRIES = 10_000


class VerifiedKeys:
    """Principals of keys verified lately, by key hash; one per process (``Runtime.keys``)."""

    def __init__(self, pubsub: PubSub | None = None, *, ttl: float = KEY_CACHE_TTL) -> None:
        self.pubsub = pubsub
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._task: asyncio.Task[None] | None = None
        # Moves on every revocation: a verification that read the row before a revocation
        # committed must not cache what it read (see ``put``'s ``seen``).
        self.generation = 0

    def get(self, key_hash: str) -> Principal | None:
        """The cached principal for ``key_hash``, or None (missing or stale)."""
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._entries.pop(key_hash, None)
            return None
        return entry[1]

    def put(
        self, key_hash: str, principal: Principal, expires_at: datetime | None, *, seen: int
    ) -> None:
        """Remember a principal just verified, until the TTL or the key's expiry; not when a
        key was revoked since the verification began (``seen``: :attr:`generation` then)."""
        if seen != self.generation:
            return
        life = self.ttl
        if expires_at is not None:
            life = min(life, (expires_at - datetime.now(UTC)).total_seconds())
        if life <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()  # a flood of distinct keys: start over rather than grow
        self._entries[key_hash] = (time.monotonic() + life, principal)

    def forget(self, key_hash: str) -> None:
        self.generation += 1
        self._entries.pop(key_hash, None)

    async def revoked(self, key_hash: str) -> None:
        """A key was revoked: forget it here now and tell the other processes."""
        self.forget(key_hash)
        if self.pubsub is not None:
            await self.pubsub.publish(KEYS_REVOKED, key_hash)

    async def follow(self) -> None:
        """Forget every key another process announces as revoked (runs until cancelled)."""
        assert self.pubsub is not None
        async with self.pubsub.subscribe(KEYS_REVOKED) as subscription:
            async for _, message in subscription:
                self.forget(message.decode())

    def start(self) -> None:
        """Follow revocations in the background (supervised: restarted if it fails)."""
        if self.pubsub is not None and self._task is None:
            health = TaskHealth("api-key-revocations")
            self._task = asyncio.create_task(supervise(health, self.follow), name=health.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._entries.clear()
