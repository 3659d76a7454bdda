"""The one interface for cache, rate limits, durable work queues and pub/sub.

Two implementations honour it: :mod:`.memory` (embedded mode, one process) and :mod:`.redis`
(distributed mode: Redis strings, sorted sets, Streams consumer groups and pub/sub). A single
contract test suite runs against both, so code written against this module behaves the same
whichever backend the settings select.
"""

from __future__ import annotations

import abc
import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import ClassVar

from waddlebot.kernel.backends.wakeup import Wakeup


class QueueFull(Exception):
    """The queue is at its bound: the producer must back off (HTTP 429/503)."""


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Result of a sliding-window rate-limit hit."""

    allowed: bool
    remaining: int
    retry_after: float  # seconds until one more hit would be allowed (0 when allowed)
    refused_by: str = ""  # the window's key that refused (hit_rate_limits), "" when allowed


@dataclass(frozen=True, slots=True)
class RateWindow:
    """One sliding window of a combined check: at most ``limit`` hits per ``window`` seconds."""

    key: str
    limit: int
    window: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """One work item handed to a consumer; it must be acknowledged or it is redelivered."""

    id: str
    payload: bytes
    attempts: int  # 1 on first delivery, +1 on each redelivery


class KeyValue(abc.ABC):
    """Strings with optional TTL, atomic counters and sliding-window rate limits."""

    #: True when every process of the installation (a CLI command too) reads and writes this
    #: same store, so a version bump by any of them reaches every cache built on it; False
    #: for a process's own memory, where a cache must expire soon to see other processes.
    shared: ClassVar[bool] = False

    @abc.abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    async def get_many(self, *keys: str) -> list[bytes | None]:
        """Values of ``keys`` in order (None where missing), in one round trip."""

    @abc.abstractmethod
    async def set(
        self,
        key: str,
        value: bytes | str,
        *,
        ttl: float | None = None,
        only_if_absent: bool = False,
    ) -> bool:
        """Store ``value``; with ``only_if_absent`` return False (and change nothing) if present."""

    @abc.abstractmethod
    async def put_if_absent(
        self, key: str, value: bytes | str, *, ttl: float, refresh_ttl: bool = False
    ) -> bytes | None:
        """Store ``value`` unless ``key`` is present, in one atomic step: None when this call
        stored it, else the present value (left as it is; with ``refresh_ttl`` its TTL starts
        over at ``ttl``)."""

    @abc.abstractmethod
    async def delete(self, *keys: str) -> int:
        """Remove keys; return how many existed."""

    @abc.abstractmethod
    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Atomically add ``amount``; ``ttl`` is set when the key is created."""

    @abc.abstractmethod
    async def ttl(self, key: str) -> float | None:
        """Seconds left to live, or None when the key is missing or has no expiry."""

    async def hit_rate_limit(self, key: str, *, limit: int, window: float) -> RateDecision:
        """Record one hit in a sliding window of ``window`` seconds allowing ``limit`` hits.

        A refused hit is not recorded, so a caller that keeps retrying is not locked out forever.
        """
        return await self.hit_rate_limits(RateWindow(key, limit, window))

    @abc.abstractmethod
    async def hit_rate_limits(
        self, *windows: RateWindow, holds: Sequence[str] = ()
    ) -> RateDecision:
        """Record one hit in every window, or in none: the first window (in the order given)
        that is full refuses the hit (``refused_by``), atomically and in one round trip.
        ``remaining`` is the least room left among the windows.

        ``holds``: keys of this store that, while they exist, refuse the hit first (their
        remaining TTL is ``retry_after``, the key ``refused_by``): a platform's back-off,
        checked in the same round trip."""


class WorkQueue(abc.ABC):
    """Durable, bounded work queues with consumer groups, acknowledgement and redelivery."""

    # True when ack/put/extend/release finish without ever suspending (in process memory):
    # a caller then needs no shield to finish one despite a cancellation.
    settles_at_once: ClassVar[bool] = False

    @abc.abstractmethod
    async def put(self, queue: str, payloads: Sequence[bytes], *, max_length: int) -> list[str]:
        """Append all ``payloads`` or none: raise :class:`QueueFull` if they would not fit."""

    @abc.abstractmethod
    async def take(
        self,
        queue: str,
        group: str,
        consumer: str,
        *,
        count: int = 1,
        block: float = 1.0,
        visibility_timeout: float = 30.0,
    ) -> list[Delivery]:
        """Hand up to ``count`` items to ``consumer``.

        Items delivered to any consumer of ``group`` and not acknowledged within
        ``visibility_timeout`` seconds are handed out again first. Waits up to ``block``
        seconds when nothing is ready, then returns an empty list.
        """

    @abc.abstractmethod
    async def ack(self, queue: str, group: str, *ids: str) -> None:
        """Acknowledge items: they are done and will never be delivered again."""

    @abc.abstractmethod
    async def extend(self, queue: str, group: str, consumer: str, *ids: str) -> None:
        """Renew ``consumer``'s lease on items it holds: their visibility timeout starts again.

        No attempt is counted, so a delivery that is slow but healthy (a message waiting for
        its platform's rate window) keeps its item instead of having it handed to someone else.
        Ids the consumer no longer holds are ignored.
        """

    @abc.abstractmethod
    async def release(self, queue: str, group: str, consumer: str, *ids: str) -> None:
        """Hand items ``consumer`` holds back at once, without counting an attempt.

        The group's next :meth:`take` gets them before any new item, in queue order, so a
        consumer that stops mid-batch leaves its successor to carry on where it was.
        """

    @abc.abstractmethod
    async def depth(self, queue: str) -> int:
        """Items in the queue that are not yet acknowledged (waiting or in flight)."""

    @abc.abstractmethod
    async def oldest_age(self, queue: str) -> float:
        """Seconds since the oldest unacknowledged item was put (0 when the queue is empty).

        What an operator alerts on: a queue that drains keeps this small however deep it is.
        """


class Subscription(abc.ABC):
    """An open subscription; iterate for messages, close when done."""

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        """Yield ``(channel, message)`` pairs as they are published."""

    @abc.abstractmethod
    async def get(self, timeout: float) -> tuple[str, bytes] | None:
        """The next message, or None after ``timeout`` seconds."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class InboxSubscription(Subscription):
    """A subscription backed by a bounded local inbox, shared by both backends.

    Publishers (or the Redis reader task) call :meth:`deliver`, which never blocks: on overflow
    the oldest message is discarded and counted, so a slow reader cannot stall the others.
    Subclasses implement :meth:`_detach` to leave their hub.
    """

    def __init__(self, buffer: int) -> None:
        self._inbox: deque[tuple[str, bytes]] = deque()
        self._buffer = max(1, buffer)
        self._arrived = Wakeup()
        self._closed = False
        self.dropped = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def deliver(self, channel: str, message: bytes) -> None:
        """Enqueue without ever blocking: on overflow the oldest message is discarded."""
        if self._closed:
            return
        if len(self._inbox) >= self._buffer:
            self._inbox.popleft()
            self.dropped += 1
        self._inbox.append((channel, message))
        self._arrived.wake()

    async def get(self, timeout: float) -> tuple[str, bytes] | None:
        if self._inbox and not self._closed:  # already here (a reply right after its outcome)
            return self._inbox.popleft()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._inbox:
            left = deadline - loop.time()
            if self._closed or left <= 0:
                return None
            await self._arrived.wait(left)
        return None if self._closed else self._inbox.popleft()

    async def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        while True:
            while not self._inbox:
                if self._closed:
                    return
                await self._arrived.wait(None)
            if self._closed:
                return
            yield self._inbox.popleft()

    def end(self) -> None:
        """Stop delivery and wake every reader."""
        self._closed = True
        self._inbox.clear()
        self._arrived.wake()

    async def close(self) -> None:
        if self._closed:
            return
        self.end()
        await self._detach()

    @abc.abstractmethod
    async def _detach(self) -> None:
        """Leave the hub that delivers to this subscription."""


class PubSub(abc.ABC):
    """Fire-and-forget fan-out to every subscriber in every process."""

    @abc.abstractmethod
    async def publish(self, channel: str, message: bytes | str) -> int:
        """Send ``message`` to everyone subscribed to ``channel`` now; how many heard it
        (subscriptions in memory, subscribed processes on Redis): 0 means nobody listens."""

    @abc.abstractmethod
    def subscribe(self, *channels: str) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe to ``channels``; messages published after entry are delivered."""


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """Who holds a named item, under which fencing token, for how many more seconds."""

    item: str
    holder: str
    token: int
    ttl: float


class Leases(abc.ABC):
    """Exclusive, expiring leases on named items, plus a registry of live instances.

    Every successful :meth:`acquire` draws a fencing token from one counter that only grows,
    so a later holder of an item always carries a larger token than any earlier one. Renewal
    and release compare the (holder, token) pair first, so an instance that lost its lease
    (paused past the TTL) can neither extend nor drop its successor's.
    """

    @abc.abstractmethod
    async def acquire(self, item: str, holder: str, *, ttl: float) -> int | None:
        """Take ``item`` when nobody holds it; return the new fencing token, else None."""

    @abc.abstractmethod
    async def renew(self, item: str, holder: str, token: int, *, ttl: float) -> bool:
        """Extend the lease to ``ttl`` from now if ``holder`` still holds it with ``token``."""

    @abc.abstractmethod
    async def release(self, item: str, holder: str, token: int) -> bool:
        """Drop the lease if ``holder`` still holds it with ``token``; True when dropped."""

    @abc.abstractmethod
    async def lookup(self, *items: str) -> list[LeaseRecord | None]:
        """The current lease of each item, in order (None where free)."""

    @abc.abstractmethod
    async def held(self) -> list[LeaseRecord]:
        """Every lease held right now, sorted by item (for status pages, not hot paths)."""

    @abc.abstractmethod
    async def heartbeat(self, instance: str, *, ttl: float) -> None:
        """Mark ``instance`` alive for ``ttl`` seconds more."""

    @abc.abstractmethod
    async def leave(self, instance: str) -> None:
        """Remove ``instance`` from the registry at once (clean shutdown)."""

    @abc.abstractmethod
    async def instances(self) -> dict[str, float]:
        """Live instances and the seconds left until each one's heartbeat expires."""


class Backend(abc.ABC):
    """The bundle a process opens once: key-value, work queues, pub/sub and leases."""

    kv: KeyValue
    queues: WorkQueue
    pubsub: PubSub
    leases: Leases

    async def finish(
        self, queue: str, group: str, item_id: str, *, mark: str, value: str, ttl: float
    ) -> None:
        """The end of handling one item: set ``mark`` (a key of :attr:`kv`) to ``value`` for
        ``ttl`` seconds, then acknowledge the item — in one round trip where the backend can
        (Redis: one script), so the mark is never missing for an acknowledged item."""
        await self.kv.set(mark, value, ttl=ttl)
        await self.queues.ack(queue, group, item_id)

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the backend is reachable (used by /readyz)."""

    @abc.abstractmethod
    async def close(self) -> None: ...
