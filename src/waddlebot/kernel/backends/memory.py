"""In-process backend for the embedded single-process mode.

Everything lives in plain dicts on the running event loop: no threads, no locks, no blocking
calls. Because asyncio is single-threaded, every method body that does not ``await`` is atomic,
which gives the same all-or-nothing guarantees the Redis backend gets from Lua scripts.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from waddlebot.kernel.backends.base import (
    Backend,
    Delivery,
    InboxSubscription,
    KeyValue,
    LeaseRecord,
    Leases,
    PubSub,
    QueueFull,
    RateDecision,
    RateWindow,
    Subscription,
    WorkQueue,
)
from waddlebot.kernel.backends.wakeup import Wakeup

DEFAULT_SWEEP_INTERVAL = 60.0
DEFAULT_SUBSCRIBER_BUFFER = 1000


def _to_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _check_ttl(ttl: float | None) -> None:
    """Reject non-positive TTLs so both backends fail the same way (Redis refuses PX 0)."""
    if ttl is not None and ttl <= 0:
        raise ValueError(f"ttl must be positive, got {ttl}")


# --------------------------------------------------------------------------- key-value


@dataclass(slots=True)
class _Entry:
    value: bytes
    expires_at: float | None  # time.monotonic() deadline, None for no expiry


@dataclass(slots=True)
class _Window:
    """Hit timestamps of one rate-limit key; ``window`` is kept so the sweep knows its age."""

    window: float
    hits: deque[float] = field(default_factory=deque)


class MemoryKeyValue(KeyValue):
    """Dict-backed strings with lazy expiry plus a periodic sweep.

    Lazy expiry alone would leak keys that are written once and never read again, so every
    write also sweeps the whole dict at most once per ``sweep_interval`` seconds. Rate-limit
    windows live in their own dict (as they live in their own key space on Redis), so
    :meth:`delete` does not reset them.
    """

    def __init__(self, *, sweep_interval: float = DEFAULT_SWEEP_INTERVAL) -> None:
        self._data: dict[str, _Entry] = {}
        self._windows: dict[str, _Window] = {}
        self._sweep_interval = sweep_interval
        self._next_sweep = time.monotonic() + sweep_interval

    async def get(self, key: str) -> bytes | None:
        entry = self._live(key, time.monotonic())
        return entry.value if entry else None

    async def get_many(self, *keys: str) -> list[bytes | None]:
        now = time.monotonic()
        return [entry.value if (entry := self._live(key, now)) else None for key in keys]

    async def set(
        self,
        key: str,
        value: bytes | str,
        *,
        ttl: float | None = None,
        only_if_absent: bool = False,
    ) -> bool:
        _check_ttl(ttl)
        now = self._maybe_sweep()
        if only_if_absent and self._live(key, now) is not None:
            return False
        self._data[key] = _Entry(_to_bytes(value), None if ttl is None else now + ttl)
        return True

    async def put_if_absent(
        self, key: str, value: bytes | str, *, ttl: float, refresh_ttl: bool = False
    ) -> bytes | None:
        _check_ttl(ttl)
        now = self._maybe_sweep()
        entry = self._live(key, now)
        if entry is None:
            self._data[key] = _Entry(_to_bytes(value), now + ttl)
            return None
        if refresh_ttl:
            entry.expires_at = now + ttl
        return entry.value

    async def delete(self, *keys: str) -> int:
        now = time.monotonic()
        removed = 0
        for key in keys:
            if self._live(key, now) is not None:
                del self._data[key]
                removed += 1
        return removed

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        _check_ttl(ttl)
        now = self._maybe_sweep()
        entry = self._live(key, now)
        if entry is None:
            entry = _Entry(b"0", None if ttl is None else now + ttl)
            self._data[key] = entry
        try:
            current = int(entry.value)
        except ValueError:
            raise ValueError(f"value of {key!r} is not an integer") from None
        entry.value = str(current + amount).encode()
        return current + amount

    async def ttl(self, key: str) -> float | None:
        now = time.monotonic()
        entry = self._live(key, now)
        if entry is None or entry.expires_at is None:
            return None
        return entry.expires_at - now

    async def hit_rate_limits(
        self, *windows: RateWindow, holds: Sequence[str] = ()
    ) -> RateDecision:
        now = self._maybe_sweep()
        for key in holds:
            held = self._live(key, now)
            if held is not None and held.expires_at is not None:
                return RateDecision(False, 0, held.expires_at - now, refused_by=key)
        states = []
        remaining = None
        for spec in windows:
            state = self._windows.get(spec.key)
            if state is None:
                state = self._windows[spec.key] = _Window(spec.window)
            state.window = spec.window
            hits = state.hits
            while hits and hits[0] <= now - spec.window:
                hits.popleft()
            if len(hits) >= spec.limit:
                retry_after = hits[0] + spec.window - now if hits else spec.window
                return RateDecision(False, 0, retry_after, refused_by=spec.key)
            left = spec.limit - len(hits) - 1
            remaining = left if remaining is None else min(remaining, left)
            states.append(state)
        for state in states:
            state.hits.append(now)
        return RateDecision(allowed=True, remaining=remaining or 0, retry_after=0.0)

    def _live(self, key: str, now: float) -> _Entry | None:
        """The entry if present and unexpired; an expired one is dropped on the spot."""
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= now:
            del self._data[key]
            return None
        return entry

    def _maybe_sweep(self) -> float:
        """Return the current time, sweeping expired keys first when the interval has passed."""
        now = time.monotonic()
        if now >= self._next_sweep:
            self.sweep(now)
        return now

    def sweep(self, now: float | None = None) -> None:
        """Drop every expired key and every rate-limit window whose hits have all aged out."""
        now = time.monotonic() if now is None else now
        self._next_sweep = now + self._sweep_interval
        expired = [
            k for k, e in self._data.items() if e.expires_at is not None and e.expires_at <= now
        ]
        for key in expired:
            del self._data[key]
        idle = [k for k, w in self._windows.items() if not w.hits or w.hits[-1] <= now - w.window]
        for key in idle:
            del self._windows[key]


# --------------------------------------------------------------------------- work queues


@dataclass(slots=True)
class _InFlight:
    consumer: str
    delivered_at: float
    attempts: int


@dataclass(slots=True)
class _Group:
    """Per-group delivery state, the in-memory twin of a Redis Streams consumer group.

    ``waiting`` holds ids never delivered to this group (ids acknowledged meanwhile are skipped
    when popped). ``in_flight`` is kept in delivery order, so the oldest delivery is first.
    """

    waiting: deque[int]
    in_flight: dict[int, _InFlight] = field(default_factory=dict)


@dataclass(slots=True)
class _Queue:
    items: dict[int, bytes] = field(default_factory=dict)
    put_at: dict[int, float] = field(default_factory=dict)  # id → time.time() of its put
    groups: dict[str, _Group] = field(default_factory=dict)
    last_id: int = 0
    changed: Wakeup = field(default_factory=Wakeup)

    def notify(self) -> None:
        """Wake every waiting ``take``."""
        self.changed.wake()


class MemoryWorkQueue(WorkQueue):
    """FIFO queues with Redis-Streams-like consumer groups, acks and redelivery.

    As on Redis (XACK + XDEL), storage is shared by the groups of a queue: each group sees
    every item, but an acknowledgement by any group removes it for good, and :meth:`depth`
    counts items nobody has acknowledged yet. In practice each queue has exactly one group.
    Only ids in flight for the acking group are removed, so a stray ack drops nothing.
    Ids are decimal strings of a per-queue counter, increasing with every put.
    """

    settles_at_once = True  # nothing here awaits: see WorkQueue.settles_at_once

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}
        self._closed = False

    async def put(self, queue: str, payloads: Sequence[bytes], *, max_length: int) -> list[str]:
        if not payloads:
            return []
        q = self._queue(queue)
        if len(q.items) + len(payloads) > max_length:
            raise QueueFull(f"queue {queue!r} holds {len(q.items)} of {max_length} items")
        ids: list[int] = []
        for payload in payloads:
            q.last_id += 1
            q.items[q.last_id] = payload
            q.put_at[q.last_id] = time.time()
            ids.append(q.last_id)
        for group in q.groups.values():
            group.waiting.extend(ids)
        q.notify()
        return [str(i) for i in ids]

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
        if count <= 0:
            return []
        q = self._queue(queue)
        deadline = time.monotonic() + block
        while True:
            now = time.monotonic()
            state = self._group(q, group)
            got = self._redeliver(q, state, consumer, count, visibility_timeout, now)
            got += self._deliver_new(q, state, consumer, count - len(got), now)
            if got or self._closed or now >= deadline:
                return got
            await self._wait(q, self._wait_time(state, deadline, visibility_timeout, now))

    async def ack(self, queue: str, group: str, *ids: str) -> None:
        q = self._queues.get(queue)
        state = q.groups.get(group) if q else None
        if q is None or state is None:
            return
        for raw in ids:
            item_id = _parse_id(raw)
            if item_id is not None and state.in_flight.pop(item_id, None) is not None:
                q.items.pop(item_id, None)
                q.put_at.pop(item_id, None)
                for other in q.groups.values():
                    other.in_flight.pop(item_id, None)

    async def extend(self, queue: str, group: str, consumer: str, *ids: str) -> None:
        state = self._held(queue, group)
        now = time.monotonic()
        for item_id in _own(state, consumer, ids):
            flight = state.in_flight.pop(item_id)  # re-inserted last: in_flight stays by age
            state.in_flight[item_id] = _InFlight(consumer, now, flight.attempts)

    async def release(self, queue: str, group: str, consumer: str, *ids: str) -> None:
        state = self._held(queue, group)
        released = sorted(_own(state, consumer, ids))
        if not released:
            return
        # Expired since forever and first in line; the next take counts them again as the
        # same attempt they were on.
        front = {
            item_id: _InFlight(consumer, -math.inf, state.in_flight[item_id].attempts - 1)
            for item_id in released
        }
        rest = {k: v for k, v in state.in_flight.items() if k not in front}
        state.in_flight = front | rest
        self._queues[queue].notify()

    async def depth(self, queue: str) -> int:
        q = self._queues.get(queue)
        return len(q.items) if q else 0

    async def oldest_age(self, queue: str) -> float:
        q = self._queues.get(queue)
        if not q or not q.put_at:
            return 0.0
        return max(0.0, time.time() - next(iter(q.put_at.values())))  # dicts keep put order

    def _held(self, queue: str, group: str) -> _Group:
        q = self._queues.get(queue)
        state = q.groups.get(group) if q else None
        return state if state is not None else _Group(waiting=deque())

    def close(self) -> None:
        """Wake every blocked ``take`` so it returns at once."""
        self._closed = True
        for q in self._queues.values():
            q.notify()

    def _queue(self, name: str) -> _Queue:
        q = self._queues.get(name)
        if q is None:
            q = self._queues[name] = _Queue()
        return q

    @staticmethod
    def _group(q: _Queue, name: str) -> _Group:
        """The group's state; a new group starts at the head, like ``XGROUP CREATE ... 0``."""
        state = q.groups.get(name)
        if state is None:
            state = q.groups[name] = _Group(waiting=deque(q.items))
        return state

    @staticmethod
    def _redeliver(
        q: _Queue, state: _Group, consumer: str, count: int, timeout: float, now: float
    ) -> list[Delivery]:
        """Hand over in-flight items older than ``timeout``, oldest delivery first."""
        expired: list[int] = []
        for item_id, flight in state.in_flight.items():
            if len(expired) >= count or now - flight.delivered_at < timeout:
                break
            expired.append(item_id)
        got: list[Delivery] = []
        for item_id in expired:
            flight = state.in_flight.pop(item_id)
            if item_id not in q.items:
                continue
            attempts = flight.attempts + 1
            state.in_flight[item_id] = _InFlight(consumer, now, attempts)
            got.append(Delivery(str(item_id), q.items[item_id], attempts))
        return got

    @staticmethod
    def _deliver_new(
        q: _Queue, state: _Group, consumer: str, count: int, now: float
    ) -> list[Delivery]:
        got: list[Delivery] = []
        while state.waiting and len(got) < count:
            item_id = state.waiting.popleft()
            payload = q.items.get(item_id)
            if payload is None:  # acknowledged through another group meanwhile
                continue
            state.in_flight[item_id] = _InFlight(consumer, now, 1)
            got.append(Delivery(str(item_id), payload, 1))
        return got

    @staticmethod
    def _wait_time(state: _Group, deadline: float, timeout: float, now: float) -> float:
        """Sleep until the deadline, or earlier when the oldest in-flight item times out."""
        wait = deadline - now
        oldest = next(iter(state.in_flight.values()), None)
        if oldest is not None:
            wait = min(wait, oldest.delivered_at + timeout - now)
        return max(wait, 0.0)

    @staticmethod
    async def _wait(q: _Queue, seconds: float) -> None:
        await q.changed.wait(seconds)


def _own(state: _Group, consumer: str, ids: Sequence[str]) -> list[int]:
    """The parsed ``ids`` that ``consumer`` holds in flight."""
    held = [_parse_id(raw) for raw in ids]
    return [
        item_id
        for item_id in held
        if item_id is not None
        and (flight := state.in_flight.get(item_id)) is not None
        and flight.consumer == consumer
    ]


def _parse_id(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


# --------------------------------------------------------------------------- pub/sub


class MemorySubscription(InboxSubscription):
    """A bounded inbox; a slow reader loses its oldest messages instead of stalling publishers."""

    def __init__(self, hub: MemoryPubSub, channels: tuple[str, ...], buffer: int) -> None:
        super().__init__(buffer)
        self._hub = hub
        self.channels = channels

    async def _detach(self) -> None:
        self._hub.unregister(self)


class MemoryPubSub(PubSub):
    """Exact-name channels fanned out to every live subscription in this process."""

    def __init__(self, *, buffer: int = DEFAULT_SUBSCRIBER_BUFFER) -> None:
        self._subscribers: dict[str, set[MemorySubscription]] = {}
        self._buffer = buffer

    async def publish(self, channel: str, message: bytes | str) -> int:
        subscriptions = self._subscribers.get(channel)
        if not subscriptions:
            return 0
        data = _to_bytes(message)
        for subscription in list(subscriptions):
            subscription.deliver(channel, data)
        return len(subscriptions)

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[Subscription]:
        subscription = MemorySubscription(self, channels, self._buffer)
        for channel in channels:
            self._subscribers.setdefault(channel, set()).add(subscription)
        try:
            yield subscription
        finally:
            await subscription.close()

    def unregister(self, subscription: MemorySubscription) -> None:
        for channel in subscription.channels:
            members = self._subscribers.get(channel)
            if members is not None:
                members.discard(subscription)
                if not members:
                    del self._subscribers[channel]

    async def close(self) -> None:
        """Close every subscription so blocked readers return."""
        for subscription in {s for members in self._subscribers.values() for s in members}:
            await subscription.close()


# --------------------------------------------------------------------------- leases


@dataclass(slots=True)
class _Lease:
    holder: str
    token: int
    expires_at: float  # time.monotonic() deadline


class MemoryLeases(Leases):
    """Leases and the instance registry in two dicts; expired entries are dropped on access."""

    def __init__(self) -> None:
        self._leases: dict[str, _Lease] = {}
        self._instances: dict[str, float] = {}
        self._fence = 0

    def _live(self, item: str, now: float) -> _Lease | None:
        lease = self._leases.get(item)
        if lease is not None and lease.expires_at <= now:
            del self._leases[item]
            return None
        return lease

    async def acquire(self, item: str, holder: str, *, ttl: float) -> int | None:
        _check_ttl(ttl)
        now = time.monotonic()
        if self._live(item, now) is not None:
            return None
        self._fence += 1
        self._leases[item] = _Lease(holder, self._fence, now + ttl)
        return self._fence

    async def renew(self, item: str, holder: str, token: int, *, ttl: float) -> bool:
        _check_ttl(ttl)
        now = time.monotonic()
        lease = self._live(item, now)
        if lease is None or (lease.holder, lease.token) != (holder, token):
            return False
        lease.expires_at = now + ttl
        return True

    async def release(self, item: str, holder: str, token: int) -> bool:
        lease = self._live(item, time.monotonic())
        if lease is None or (lease.holder, lease.token) != (holder, token):
            return False
        del self._leases[item]
        return True

    async def lookup(self, *items: str) -> list[LeaseRecord | None]:
        now = time.monotonic()
        return [
            LeaseRecord(item, lease.holder, lease.token, lease.expires_at - now)
            if (lease := self._live(item, now))
            else None
            for item in items
        ]

    async def held(self) -> list[LeaseRecord]:
        found = await self.lookup(*sorted(self._leases))
        return [record for record in found if record is not None]

    async def heartbeat(self, instance: str, *, ttl: float) -> None:
        _check_ttl(ttl)
        if not instance:
            raise ValueError("instance id must not be empty")
        self._instances[instance] = time.monotonic() + ttl

    async def leave(self, instance: str) -> None:
        self._instances.pop(instance, None)

    async def instances(self) -> dict[str, float]:
        now = time.monotonic()
        for gone in [name for name, deadline in self._instances.items() if deadline <= now]:
            del self._instances[gone]
        return {name: deadline - now for name, deadline in sorted(self._instances.items())}


# --------------------------------------------------------------------------- bundle


class MemoryBackend(Backend):
    """Key-value, queues and pub/sub for one process; nothing survives a restart."""

    kv: MemoryKeyValue
    queues: MemoryWorkQueue
    pubsub: MemoryPubSub
    leases: MemoryLeases

    def __init__(self, *, sweep_interval: float = DEFAULT_SWEEP_INTERVAL) -> None:
        self.kv = MemoryKeyValue(sweep_interval=sweep_interval)
        self.queues = MemoryWorkQueue()
        self.pubsub = MemoryPubSub()
        self.leases = MemoryLeases()

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self.queues.close()
        await self.pubsub.close()
