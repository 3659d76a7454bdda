"""Redis backend for the distributed mode: strings, sorted sets, Streams and pub/sub.

Every key and channel lives under ``f"{namespace}:"`` (then a short kind tag: ``kv``, ``rl``,
``q``, ``ch``), so several deployments or test runs can share one Redis without seeing each
other. Multi-step operations that must be atomic (bounded put, counters with a TTL on creation,
sliding-window rate limits, claim-with-attempts, ack-and-delete) run as Lua scripts.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub as RedisPubSubConnection
from redis.exceptions import RedisError, ResponseError

from waddlebot.kernel.backends.base import (
    Backend,
    Delivery,
    KeyValue,
    PubSub,
    QueueFull,
    RateDecision,
    Subscription,
    WorkQueue,
)

logger = logging.getLogger(__name__)

PING_TIMEOUT = 5.0
SUBSCRIBE_TIMEOUT = 5.0
MAX_BLOCK_SLICE = 2.0  # stay well below redis-py's default 5 s socket timeout
MIN_BLOCK_SLICE = 0.05  # do not spin when visibility_timeout is tiny
ITER_POLL = 1.0  # how often an ``async for`` over a subscription notices close()
_STREAM_ID = re.compile(r"^\d+-\d+$")

# KEYS[1] counter; ARGV[1] amount, ARGV[2] ttl in ms (0: none). TTL only when newly created.
_INCR_LUA = """
local existed = redis.call('EXISTS', KEYS[1])
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
"""

# KEYS[1] sorted set of hits scored in server microseconds; ARGV[1] window in microseconds,
# ARGV[2] limit, ARGV[3] unique member. Server TIME keeps every client on one clock; scores go
# through %.0f because Lua's default number formatting would round them to 14 digits.
_RATE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.ceil(window / 1000) + 1))
  return {1, limit - count - 1, 0}
end
local retry = window
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then retry = tonumber(oldest[2]) + window - now end
return {0, 0, math.max(1, retry)}
"""

# KEYS[1] stream; ARGV[1] max length, ARGV[2..] payloads. XLEN equals the unacknowledged items
# because ack deletes entries. Returns the new ids, or nil when they would not all fit.
_PUT_LUA = """
if redis.call('XLEN', KEYS[1]) + #ARGV - 1 > tonumber(ARGV[1]) then
  return false
end
local ids = {}
for i = 2, #ARGV do
  ids[i - 1] = redis.call('XADD', KEYS[1], '*', 'p', ARGV[i])
end
return ids
"""

# KEYS[1] stream; ARGV[1] group, ARGV[2] consumer, ARGV[3] min idle ms, ARGV[4] count.
# Claims timed-out entries and returns flat {id, payload, delivery count, ...}. Entries
# deleted meanwhile (nil on Redis 6.2, listed apart on 7) or without a payload are acked away.
_CLAIM_LUA = """
local out = {}
local want = tonumber(ARGV[4])
local cursor = '0-0'
for _ = 1, 16 do
  local res = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], cursor,
    'COUNT', string.format('%d', want - #out / 3))
  cursor = res[1]
  for _, entry in ipairs(res[2]) do
    if entry and entry[2] then
      local payload = nil
      for i = 1, #entry[2], 2 do
        if entry[2][i] == 'p' then payload = entry[2][i + 1] end
      end
      if payload then
        local pending = redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1)
        local attempts = 1
        if pending[1] then attempts = pending[1][4] end
        out[#out + 1] = entry[1]
        out[#out + 1] = payload
        out[#out + 1] = attempts
      else
        redis.call('XACK', KEYS[1], ARGV[1], entry[1])
        redis.call('XDEL', KEYS[1], entry[1])
      end
    end
  end
  if cursor == '0-0' or #out >= want * 3 then break end
end
return out
"""

# KEYS[1] stream; ARGV[1] group, ARGV[2..] ids. Deletes only what this group had in flight,
# so a stray ack cannot drop an item nobody has processed.
_ACK_LUA = """
local n = 0
for i = 2, #ARGV do
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
    redis.call('XDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
"""


def _ms(seconds: float) -> int:
    """Whole milliseconds, rounded up, at least 1: Redis refuses PX 0 and BLOCK 0 never returns."""
    return max(1, math.ceil(seconds * 1000))


def _check_ttl(ttl: float | None) -> None:
    if ttl is not None and ttl <= 0:
        raise ValueError(f"ttl must be positive, got {ttl}")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _is_error(exc: ResponseError, code: str) -> bool:
    """Match a Redis error code; ``in`` because script errors wrap the original message."""
    return code in str(exc)


def _stream_vanished(exc: RedisError) -> bool:
    """The stream (and so its group) was deleted, e.g. evicted, before or during a read."""
    return isinstance(exc, ResponseError) and (
        _is_error(exc, "NOGROUP") or _is_error(exc, "UNBLOCKED")
    )


# --------------------------------------------------------------------------- key-value


class RedisKeyValue(KeyValue):
    """Plain strings under ``ns:kv:``; rate-limit windows are sorted sets under ``ns:rl:``."""

    def __init__(self, client: aioredis.Redis, namespace: str) -> None:
        self._client = client
        self._kv = f"{namespace}:kv:"
        self._rl = f"{namespace}:rl:"
        self._incr = client.register_script(_INCR_LUA)
        self._rate = client.register_script(_RATE_LUA)

    async def get(self, key: str) -> bytes | None:
        return cast("bytes | None", await self._client.get(self._kv + key))

    async def set(
        self,
        key: str,
        value: bytes | str,
        *,
        ttl: float | None = None,
        only_if_absent: bool = False,
    ) -> bool:
        _check_ttl(ttl)
        px = None if ttl is None else _ms(ttl)
        done = await self._client.set(self._kv + key, value, px=px, nx=only_if_absent)
        return bool(done)

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._client.delete(*(self._kv + key for key in keys)))

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        _check_ttl(ttl)
        ttl_ms = 0 if ttl is None else _ms(ttl)
        return int(await self._incr(keys=[self._kv + key], args=[amount, ttl_ms]))

    async def ttl(self, key: str) -> float | None:
        left = int(await self._client.pttl(self._kv + key))
        return None if left < 0 else left / 1000

    async def hit_rate_limit(self, key: str, *, limit: int, window: float) -> RateDecision:
        window_us = max(1, round(window * 1_000_000))
        reply = await self._rate(keys=[self._rl + key], args=[window_us, limit, uuid.uuid4().hex])
        allowed, remaining, retry_us = (int(part) for part in cast("list[int]", reply))
        return RateDecision(bool(allowed), remaining, retry_us / 1_000_000)


# --------------------------------------------------------------------------- work queues


class RedisWorkQueue(WorkQueue):
    """One Redis Stream per queue (``ns:q:<name>``), consumer groups for delivery.

    Acknowledged entries are deleted, so XLEN is the number of unacknowledged items and the
    bound in :meth:`put` counts waiting and in-flight items alike. Each group sees every
    entry, but an ack by any group deletes it for all: use exactly one group per queue.
    """

    def __init__(self, client: aioredis.Redis, namespace: str) -> None:
        self._client = client
        self._prefix = f"{namespace}:q:"
        self._groups: set[tuple[str, str]] = set()
        self._put = client.register_script(_PUT_LUA)
        self._claim = client.register_script(_CLAIM_LUA)
        self._ack = client.register_script(_ACK_LUA)
        self._max_slice = _block_slice_cap(client)
        self._closed = False

    async def put(self, queue: str, payloads: Sequence[bytes], *, max_length: int) -> list[str]:
        if not payloads:
            return []
        reply = await self._put(keys=[self._prefix + queue], args=[max_length, *payloads])
        if reply is None:
            raise QueueFull(f"queue {queue!r} cannot take {len(payloads)} more of {max_length}")
        return [_text(item_id) for item_id in cast("list[bytes]", reply)]

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
        stream = self._prefix + queue
        deadline = time.monotonic() + block
        while True:
            try:
                got = await self._take_once(
                    stream, group, consumer, count, deadline, visibility_timeout
                )
            except RedisError as exc:
                if self._closed:  # close() cut a blocked read short: same as a timeout
                    return []
                if not _stream_vanished(exc):
                    raise
                self._groups.discard((stream, group))  # recreate the group, then try again
                continue
            if got or time.monotonic() >= deadline:
                return got

    async def ack(self, queue: str, group: str, *ids: str) -> None:
        valid = [item_id for item_id in ids if _STREAM_ID.match(item_id)]
        if valid:
            await self._ack(keys=[self._prefix + queue], args=[group, *valid])

    async def depth(self, queue: str) -> int:
        return int(await self._client.xlen(self._prefix + queue))

    def close(self) -> None:
        """Mark closed so takes cut short by the pool closing return [] instead of raising."""
        self._closed = True

    async def _take_once(
        self, stream: str, group: str, consumer: str, count: int, deadline: float, visibility: float
    ) -> list[Delivery]:
        """Claim timed-out items, then read new ones, blocking at most one slice.

        XREADGROUP cannot notice an in-flight item timing out while it blocks, so the block is
        cut into slices no longer than ``visibility_timeout`` and claiming is retried between.
        """
        await self._ensure_group(stream, group)
        got = await self._claim_expired(stream, group, consumer, count, visibility)
        if len(got) < count:
            remaining = deadline - time.monotonic()
            wait = None if got or remaining <= 0 else min(remaining, self._slice(visibility))
            got += await self._read_new(stream, group, consumer, count - len(got), wait)
        return got

    def _slice(self, visibility_timeout: float) -> float:
        return min(self._max_slice, max(MIN_BLOCK_SLICE, visibility_timeout))

    async def _ensure_group(self, stream: str, group: str) -> None:
        """Create the group at the start of the stream once per process (BUSYGROUP is fine)."""
        if (stream, group) in self._groups:
            return
        try:
            await self._client.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if not _is_error(exc, "BUSYGROUP"):
                raise
        self._groups.add((stream, group))

    async def _claim_expired(
        self, stream: str, group: str, consumer: str, count: int, visibility: float
    ) -> list[Delivery]:
        min_idle = max(0, math.floor(visibility * 1000))
        reply = await self._claim(keys=[stream], args=[group, consumer, min_idle, count])
        flat = cast("list[Any]", reply)
        return [
            Delivery(_text(flat[i]), bytes(flat[i + 1]), int(flat[i + 2]))
            for i in range(0, len(flat), 3)
        ]

    async def _read_new(
        self, stream: str, group: str, consumer: str, count: int, wait: float | None
    ) -> list[Delivery]:
        """XREADGROUP ``>``; ``wait`` None means do not block at all."""
        block = None if wait is None else _ms(wait)
        reply = await self._client.xreadgroup(
            group, consumer, {stream: ">"}, count=count, block=block
        )
        got: list[Delivery] = []
        for _name, entries in _stream_entries(reply):
            for entry_id, fields in entries:
                payload = fields.get(b"p") if fields else None
                if payload is not None:
                    got.append(Delivery(_text(entry_id), payload, 1))
        return got


def _stream_entries(reply: Any) -> list[tuple[Any, list[tuple[Any, dict[bytes, bytes] | None]]]]:
    """Normalise XREADGROUP replies: RESP2 gives ``[[name, entries]]``, RESP3 a dict."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [
            (name, entries[0] if entries and isinstance(entries[0], list) else entries)
            for name, entries in reply.items()
        ]
    return [(name, entries) for name, entries in reply]


def _block_slice_cap(client: aioredis.Redis) -> float:
    """Longest safe XREADGROUP block: under half the socket timeout, at most MAX_BLOCK_SLICE."""
    socket_timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
    if isinstance(socket_timeout, int | float) and socket_timeout > 0:
        return max(MIN_BLOCK_SLICE, min(MAX_BLOCK_SLICE, socket_timeout / 2))
    return MAX_BLOCK_SLICE


# --------------------------------------------------------------------------- pub/sub


class RedisSubscription(Subscription):
    """A dedicated pub/sub connection; channel names are handed back without the namespace."""

    def __init__(self, connection: RedisPubSubConnection, prefix: str) -> None:
        self._connection = connection
        self._prefix = prefix
        self._early: deque[tuple[str, bytes]] = deque()
        self._closed = False

    async def open(self, channels: Sequence[str]) -> None:
        """Subscribe and wait for every confirmation, so a publish right after entry arrives."""
        names = {self._prefix + channel for channel in channels}
        await self._connection.subscribe(*names)
        confirmed = 0
        async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
            while confirmed < len(names):
                message = await self._connection.get_message(timeout=SUBSCRIBE_TIMEOUT)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    confirmed += 1
                else:
                    self._keep(message, self._early)

    async def get(self, timeout: float) -> tuple[str, bytes] | None:
        if self._early:
            return self._early.popleft()
        if self._closed:
            return None
        deadline = time.monotonic() + timeout
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                message = await self._connection.get_message(
                    ignore_subscribe_messages=True, timeout=remaining
                )
            except (RedisError, RuntimeError):
                if self._closed:  # closed from another task while we were reading
                    return None
                raise
            found = self._unwrap(message)
            if found is not None or remaining <= 0 or self._closed:
                return found

    async def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        while not self._closed:
            message = await self.get(ITER_POLL)
            if message is not None:
                yield message

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        aclose = cast("Callable[[], Awaitable[None]]", self._connection.aclose)  # untyped upstream
        await aclose()

    def _unwrap(self, message: dict[str, Any] | None) -> tuple[str, bytes] | None:
        if message is None or message.get("type") != "message":
            return None
        channel = _text(message["channel"]).removeprefix(self._prefix)
        return channel, bytes(message["data"])

    def _keep(self, message: dict[str, Any], into: deque[tuple[str, bytes]]) -> None:
        found = self._unwrap(message)
        if found is not None:
            into.append(found)


class RedisPubSub(PubSub):
    """PUBLISH/SUBSCRIBE on ``ns:ch:<channel>``; delivery is at-most-once, as Redis gives it."""

    def __init__(self, client: aioredis.Redis, namespace: str) -> None:
        self._client = client
        self._prefix = f"{namespace}:ch:"
        self._open: set[RedisSubscription] = set()

    async def publish(self, channel: str, message: bytes | str) -> None:
        await self._client.publish(self._prefix + channel, message)

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[Subscription]:
        subscription = RedisSubscription(self._client.pubsub(), self._prefix)
        self._open.add(subscription)
        try:
            await subscription.open(channels)
            yield subscription
        finally:
            self._open.discard(subscription)
            await subscription.close()

    async def close(self) -> None:
        """Close subscriptions still open, before the pool under them goes away."""
        for subscription in list(self._open):
            await subscription.close()
        self._open.clear()


# --------------------------------------------------------------------------- bundle


class RedisBackend(Backend):
    """Key-value, queues and pub/sub sharing one connection pool and one key namespace."""

    kv: RedisKeyValue
    queues: RedisWorkQueue
    pubsub: RedisPubSub

    def __init__(self, client: aioredis.Redis, *, namespace: str) -> None:
        self._client = client
        self.namespace = namespace
        self.kv = RedisKeyValue(client, namespace)
        self.queues = RedisWorkQueue(client, namespace)
        self.pubsub = RedisPubSub(client, namespace)

    @classmethod
    def from_url(cls, url: str, *, namespace: str) -> RedisBackend:
        """Build a backend on a fresh pool; nothing connects until the first command."""
        return cls(aioredis.Redis.from_url(url, decode_responses=False), namespace=namespace)

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(PING_TIMEOUT):
                return bool(await self._client.ping())
        except Exception as exc:
            logger.debug("redis ping failed: %r", exc)
            return False

    async def close(self) -> None:
        """Release connections only: data stays, other processes may still be using it."""
        self.queues.close()
        await self.pubsub.close()
        await self._client.aclose()

    async def drop_namespace(self) -> int:
        """Delete every key under this namespace (tests only); return how many were removed."""
        pattern = _glob_escape(self.namespace) + ":*"
        batch: list[bytes] = []
        removed = 0
        async for key in self._client.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                removed += int(await self._client.unlink(*batch))
                batch.clear()
        if batch:
            removed += int(await self._client.unlink(*batch))
        return removed


def _glob_escape(text: str) -> str:
    """Escape SCAN MATCH metacharacters so a namespace is matched literally."""
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)
