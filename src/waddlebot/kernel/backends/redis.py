"""Redis backend for the distributed mode: strings, sorted sets, Streams and pub/sub.

Every key and channel lives under ``f"{namespace}:"`` (then a short kind tag: ``kv``, ``rl``,
``q``, ``ch``), so several deployments or test runs can share one Redis without seeing each
other. Multi-step operations that must be atomic (bounded put, counters with a TTL on creation,
sliding-window rate limits, claim-with-attempts, ack-and-delete) run as Lua scripts.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub as RedisPubSubConnection
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError, ResponseError

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
from waddlebot.kernel.backends.redis_batching import BATCHED, AutoPipeline, no_reply
from waddlebot.kernel.errors import DependencyUnavailable
from waddlebot.kernel.ids import new_id
from waddlebot.kernel.observability.metrics import REDIS_COMMANDS, REDIS_ROUND_TRIPS

logger = logging.getLogger(__name__)

PING_TIMEOUT = 5.0
COMMAND_RETRIES = 2  # on a broken connection (e.g. Redis restarted): reconnect and resend
SUBSCRIBE_TIMEOUT = 5.0
REPLY_TIMEOUT = 10.0  # a command unanswered this long means a dead link: fail, never hang
CONNECT_TIMEOUT = 5.0  # also bounds closing a connection (redis-py uses it for both)
MAX_BLOCK_SLICE = 2.0  # a blocking read stays well below the reply bound
MIN_BLOCK_SLICE = 0.05  # do not spin when visibility_timeout is tiny
RECLAIM_EVERY = 1.0  # a process looks for timed-out items of a queue at most this often
SUBSCRIBER_BUFFER = 1000  # per-subscription inbox; a slow reader loses its oldest messages
READ_SLICE = 5.0  # the pub/sub reader wakes at least this often to look after the connection
KEEPALIVE_INTERVAL = 30.0  # PING the shared pub/sub connection after this long without traffic
KEEPALIVE_TIMEOUT = 10.0  # ...and replace it when the PING stays unanswered this long
RECONNECT_MIN = 0.1  # backoff before reconnecting the shared pub/sub connection...
RECONNECT_MAX = 2.0  # ...doubling up to this while reconnecting keeps failing
STABLE_CONNECTION = 5.0  # a connection that lasted this long resets the backoff
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

# KEYS[1] key; ARGV[1] value, ARGV[2] ttl ms, ARGV[3] "1": restart a present key's TTL.
# Returns the present value, or false after storing ARGV[1].
_PUT_IF_ABSENT_LUA = """
local present = redis.call('GET', KEYS[1])
if present then
  if ARGV[3] == '1' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  return present
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""

# KEYS[1..n] sorted sets of hits scored in server microseconds, then hold keys (plain keys
# whose TTL is a back-off); ARGV[1] unique member, ARGV[2] n, then per window ARGV[2i+1]
# window in microseconds, ARGV[2i+2] limit. A live hold refuses first (retry = its PTTL);
# every window is checked before any is hit, so a refused hit lands in none. Returns
# {allowed, remaining, retry_us, refusing index into KEYS}.
# Server TIME keeps every client on one clock; scores go through %.0f because Lua's default
# number formatting would round them to 14 digits.
_RATE_LUA = """
local windows = tonumber(ARGV[2])
for i = windows + 1, #KEYS do
  local held = redis.call('PTTL', KEYS[i])
  if held > 0 then return {0, 0, held * 1000, i} end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local remaining = nil
for i = 1, windows do
  local key = KEYS[i]
  local window = tonumber(ARGV[2 * i + 1])
  local limit = tonumber(ARGV[2 * i + 2])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.0f', now - window))
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local retry = window
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if oldest[2] then retry = tonumber(oldest[2]) + window - now end
    return {0, 0, math.max(1, retry), i}
  end
  if remaining == nil or limit - count - 1 < remaining then remaining = limit - count - 1 end
end
for i = 1, windows do
  redis.call('ZADD', KEYS[i], string.format('%.0f', now), ARGV[1])
  local ms = math.ceil(tonumber(ARGV[2 * i + 1]) / 1000) + 1
  redis.call('PEXPIRE', KEYS[i], string.format('%.0f', ms))
end
return {1, remaining or 0, 0, 0}
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

# KEYS[1] stream; ARGV[1] group, ARGV[2] consumer, ARGV[3] min idle ms, ARGV[4] count,
# ARGV[5] "1": fill up with new entries. Claims timed-out entries first, then (without
# blocking) reads new ones, in one round trip; returns flat {id, payload, delivery count, ...}.
# Claimed entries deleted meanwhile (nil on Redis 6.2, listed apart on 7) or without a payload
# are acked away; new ones without a payload stay pending until a later claim does that.
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
if ARGV[5] == '1' and #out < want * 3 then
  local fresh = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2],
    'COUNT', string.format('%d', want - #out / 3), 'STREAMS', KEYS[1], '>')
  if fresh then
    for _, entry in ipairs(fresh[1][2]) do
      local fields = entry[2]
      if fields then
        for i = 1, #fields, 2 do
          if fields[i] == 'p' then
            out[#out + 1] = entry[1]
            out[#out + 1] = fields[i + 1]
            out[#out + 1] = 1
          end
        end
      end
    end
  end
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

# KEYS[1] stream, KEYS[2] a key-value key; ARGV[1] group, ARGV[2] value, ARGV[3] TTL in ms,
# ARGV[4] id (or "" when it is not a stream id). Sets the mark, then acks (and deletes) the id.
_FINISH_LUA = """
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if ARGV[4] ~= '' and redis.call('XACK', KEYS[1], ARGV[1], ARGV[4]) == 1 then
  redis.call('XDEL', KEYS[1], ARGV[4])
end
return 1
"""

# KEYS[1] stream; ARGV[1] group, ARGV[2] consumer, ARGV[3] "extend" or "release", ARGV[4..] ids.
# Only entries pending for this consumer are touched. JUSTID keeps the delivery count as it is;
# extend restarts the idle clock, release makes the entry idle for a day (so the next claim
# takes it at once) and takes one off its count (which that claim adds back).
_LEASE_LUA = """
local n = 0
for i = 4, #ARGV do
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  local entry = pending[1]
  if entry and entry[2] == ARGV[2] then
    if ARGV[3] == 'release' then
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', 86400000,
        'RETRYCOUNT', math.max(entry[4] - 1, 0), 'JUSTID')
    else
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    end
    n = n + 1
  end
end
return n
"""

# Leases: KEYS[1] the item's key, holding "<token>:<holder>". Tokens come from one counter
# (KEYS[2] of acquire) that only grows. Renew and release compare the whole value first.
# ARGV[1] holder, ARGV[2] ttl ms. SET NX PX, drawing a token only when the item is free.
_ACQUIRE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], string.format('%.0f', token) .. ':' .. ARGV[1], 'NX', 'PX', ARGV[2])
return token
"""

# ARGV[1] expected value, ARGV[2] ttl ms: compare-and-extend.
_RENEW_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# ARGV[1] expected value: compare-and-delete.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""

# KEYS: item keys. Flat {value or '', pttl, ...}, read together so value and TTL agree.
_LOOKUP_LUA = """
local out = {}
for _, key in ipairs(KEYS) do
  out[#out + 1] = redis.call('GET', key) or ''
  out[#out + 1] = redis.call('PTTL', key)
end
return out
"""

# KEYS[1] sorted set of instances scored by their deadline in server milliseconds.
# ARGV[1] instance ('' to only read), ARGV[2] ttl ms. Returns flat {instance, ms left, ...}.
_INSTANCES_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[1] ~= '' then
  redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[2])), ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
local found = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #found, 2 do
  out[#out + 1] = found[i]
  out[#out + 1] = string.format('%.0f', tonumber(found[i + 1]) - now)
end
return out
"""


def _ms(seconds: float) -> int:
    """Whole milliseconds, rounded up, at least 1: Redis refuses PX 0 and BLOCK 0 never returns."""
    return max(1, math.ceil(seconds * 1000))


def _check_ttl(ttl: float | None) -> None:
    if ttl is not None and ttl <= 0:
        raise ValueError(f"ttl must be positive, got {ttl}")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


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

    shared = True

    def __init__(self, client: aioredis.Redis, namespace: str) -> None:
        self._client = client
        self._kv = f"{namespace}:kv:"
        self._rl = f"{namespace}:rl:"
        self._incr = client.register_script(_INCR_LUA)
        self._rate = client.register_script(_RATE_LUA)
        self._put_if_absent = client.register_script(_PUT_IF_ABSENT_LUA)

    def key(self, key: str) -> str:
        """``key`` as stored in Redis (under the namespace)."""
        return self._kv + key

    async def get(self, key: str) -> bytes | None:
        return cast("bytes | None", await self._client.get(self._kv + key))

    async def get_many(self, *keys: str) -> list[bytes | None]:
        if not keys:
            return []
        values = await self._client.mget([self._kv + key for key in keys])
        return cast("list[bytes | None]", list(values))

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

    async def put_if_absent(
        self, key: str, value: bytes | str, *, ttl: float, refresh_ttl: bool = False
    ) -> bytes | None:
        _check_ttl(ttl)
        args = [value, _ms(ttl), "1" if refresh_ttl else "0"]
        present = await self._put_if_absent(keys=[self._kv + key], args=args)
        return None if present is None else _bytes(present)

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

    async def hit_rate_limits(
        self, *windows: RateWindow, holds: Sequence[str] = ()
    ) -> RateDecision:
        args: list[Any] = [new_id(), len(windows)]
        for spec in windows:
            args += [max(1, round(spec.window * 1_000_000)), spec.limit]
        keys = [self._rl + spec.key for spec in windows] + [self._kv + key for key in holds]
        reply = await self._rate(keys=keys, args=args)
        allowed, remaining, retry_us, refusing = (int(part) for part in cast("list[int]", reply))
        names = [spec.key for spec in windows] + list(holds)
        refused_by = names[refusing - 1] if refusing else ""
        return RateDecision(bool(allowed), remaining, retry_us / 1_000_000, refused_by)


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
        self._reclaimed_at: dict[tuple[str, str], float] = {}  # monotonic, per stream + group
        self._put = client.register_script(_PUT_LUA)
        self._claim = client.register_script(_CLAIM_LUA)
        self._ack = client.register_script(_ACK_LUA)
        self._lease = client.register_script(_LEASE_LUA)
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
        task = asyncio.current_task()
        cancels = task.cancelling() if task is not None else 0
        while True:
            try:
                got = await self._take_once(
                    stream, group, consumer, count, deadline, visibility_timeout
                )
                if task is not None and task.cancelling() > cancels:
                    # redis-py can finish a command and drop a cancellation that arrived
                    # meanwhile: hand the items back and let the cancellation through, or the
                    # caller's loop would never stop.
                    await self.release(queue, group, consumer, *(d.id for d in got))
                    raise asyncio.CancelledError
            except RedisError as exc:
                if self._closed:  # close() cut a blocked read short: same as a timeout
                    return []
                if not _stream_vanished(exc):
                    raise
                self._groups.discard((stream, group))  # recreate the group, then try again
                continue
            if got or time.monotonic() >= deadline:
                return got

    def stream_key(self, queue: str) -> str:
        return self._prefix + queue

    async def ack(self, queue: str, group: str, *ids: str) -> None:
        valid = [item_id for item_id in ids if _STREAM_ID.match(item_id)]
        if valid:
            await self._ack(keys=[self._prefix + queue], args=[group, *valid])

    async def extend(self, queue: str, group: str, consumer: str, *ids: str) -> None:
        await self._renew(queue, group, consumer, "extend", ids)

    async def release(self, queue: str, group: str, consumer: str, *ids: str) -> None:
        await self._renew(queue, group, consumer, "release", ids)
        # Handed back to be taken first: this process's next take claims at once (others
        # within RECLAIM_EVERY).
        self._reclaimed_at.pop((self._prefix + queue, group), None)

    async def depth(self, queue: str) -> int:
        return int(await self._client.xlen(self._prefix + queue))

    async def oldest_age(self, queue: str) -> float:
        # Acknowledged entries are deleted (XACK + XDEL), so the first entry is the oldest
        # unacknowledged one; its id starts with the millisecond time of its XADD.
        first = await self._client.xrange(self._prefix + queue, count=1)
        if not first:
            return 0.0
        raw = first[0][0]
        millis = int((raw.decode() if isinstance(raw, bytes) else str(raw)).split("-")[0])
        return max(0.0, time.time() - millis / 1000)

    async def _renew(
        self, queue: str, group: str, consumer: str, mode: str, ids: Sequence[str]
    ) -> None:
        valid = [item_id for item_id in ids if _STREAM_ID.match(item_id)]
        if not valid:
            return
        try:
            await self._lease(keys=[self._prefix + queue], args=[group, consumer, mode, *valid])
        except ResponseError as exc:
            if not _stream_vanished(exc):  # no stream or group: nothing is held
                raise

    def close(self) -> None:
        """Mark closed so takes cut short by the pool closing return [] instead of raising."""
        self._closed = True

    async def _take_once(
        self, stream: str, group: str, consumer: str, count: int, deadline: float, visibility: float
    ) -> list[Delivery]:
        """Claim timed-out items and read new ones (one script); only when that finds nothing,
        block for new ones for at most one slice.

        XREADGROUP cannot notice an in-flight item timing out while it blocks, so the block is
        cut into slices no longer than ``visibility_timeout`` and claiming is retried between.
        Claiming is a round trip per take that almost always finds nothing, so a process does
        it for a queue at most every ``RECLAIM_EVERY`` seconds (a quarter of the visibility
        timeout when that is shorter): a timed-out item waits at most that much longer.
        """
        await self._ensure_group(stream, group)
        now = time.monotonic()
        last = self._reclaimed_at.get((stream, group), -math.inf)
        if now - last >= min(RECLAIM_EVERY, visibility / 4):
            self._reclaimed_at[(stream, group)] = now
            got = await self._claim_expired(stream, group, consumer, count, visibility)
            if got:
                return got
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []  # the script has read new items too
        else:
            remaining = deadline - time.monotonic()
        wait = min(remaining, self._slice(visibility)) if remaining > 0 else None
        return await self._read_new(stream, group, consumer, count, wait)

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
        reply = await self._claim(keys=[stream], args=[group, consumer, min_idle, count, "1"])
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


@dataclass(eq=False, slots=True)
class _Channel:
    """One Redis channel on the shared pub/sub connection, as this process sees it.

    ``subscribed`` says whether the last command sent for the channel on the current
    connection was SUBSCRIBE. ``unconfirmed`` counts SUBSCRIBEs sent on it that Redis has not
    confirmed yet: replies for one channel come back in command order, so each confirmation
    settles the oldest one, and a confirmation meant for an earlier SUBSCRIBE (whose
    subscriber has left again) can never pass for the latest one. The entry is kept while it
    has subscribers or confirmations are still due.
    """

    subscribers: set[RedisSubscription] = field(default_factory=set)
    subscribed: bool = False
    unconfirmed: int = 0
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ready(self) -> bool:
        """Redis has confirmed the latest SUBSCRIBE: whatever is published now arrives."""
        return self.subscribed and self.unconfirmed == 0

    @property
    def idle(self) -> bool:
        return not self.subscribers and not self.subscribed and self.unconfirmed == 0


class RedisSubscription(InboxSubscription):
    """One local subscriber on the backend's shared pub/sub connection.

    The reader task of :class:`RedisPubSub` fans messages into the bounded inbox. Channel names
    are handed back without the namespace.
    """

    def __init__(self, hub: RedisPubSub, names: tuple[str, ...], buffer: int) -> None:
        super().__init__(buffer)
        self._hub = hub
        self.names = names  # full Redis channel names, namespace included

    async def _detach(self) -> None:
        await self._hub.unregister(self)


class RedisPubSub(PubSub):
    """PUBLISH/SUBSCRIBE on ``ns:ch:<channel>``; delivery is at-most-once, as Redis gives it.

    Every subscription of one backend shares ONE Redis pub/sub connection, opened on the first
    subscribe. SUBSCRIBE goes out only for the first local subscriber of a channel and
    UNSUBSCRIBE when the last one leaves; commands are serialised by a lock, and one reader
    task fans incoming messages out to the local subscriptions. Entering :meth:`subscribe`
    waits until Redis has confirmed every channel, so a message published afterwards arrives.

    When the connection drops the reader reconnects with a short backoff and resubscribes every
    channel that still has subscribers; messages published during the outage are lost.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str,
        *,
        buffer: int = SUBSCRIBER_BUFFER,
        listen_client: aioredis.Redis | None = None,
    ) -> None:
        self._client = client
        # The shared subscriber connection reconnects here, never inside redis-py: a client
        # that retries commands would reconnect it behind our back (see _on_reconnect).
        self._listen_client = listen_client or client
        self._prefix = f"{namespace}:ch:"
        self._buffer = buffer
        self.connection_name = re.sub(r"[^!-~]", "_", f"waddlebot-pubsub:{namespace}")
        self.connections_opened = 0  # pub/sub connections made so far, reconnections included
        self.client_id: int | None = None  # CLIENT ID of the current connection, when known
        self._channels: dict[str, _Channel] = {}
        self._lock = asyncio.Lock()  # serialises (UN)SUBSCRIBE, connecting and dropping
        self._connection: RedisPubSubConnection | None = None
        self._connected_at = 0.0
        self._stale = False  # the connection failed or was silently re-established: replace it
        self._last_traffic = 0.0
        self._pinged_at = 0.0
        self._reader: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False

    async def publish(self, channel: str, message: bytes | str) -> int:
        return int(await self._client.publish(self._prefix + channel, message))

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[Subscription]:
        if self._closed:
            raise RuntimeError("the Redis pub/sub is closed")
        names = tuple(dict.fromkeys(self._prefix + channel for channel in channels))
        subscription = RedisSubscription(self, names, self._buffer)
        try:
            await self._register(subscription)
            yield subscription
        finally:
            await subscription.close()

    async def unregister(self, subscription: RedisSubscription) -> None:
        """Forget a closed subscription; UNSUBSCRIBE channels nobody here listens to any more.

        The bookkeeping is done at once and the command runs shielded, so a cancelled caller
        cannot leave Redis subscribed to a channel without local subscribers.
        """
        emptied: list[str] = []
        for name in subscription.names:
            state = self._channels.get(name)
            if state is None or subscription not in state.subscribers:
                continue
            state.subscribers.discard(subscription)
            if state.idle:
                del self._channels[name]
            elif not state.subscribers and state.subscribed:
                emptied.append(name)
        if emptied and not self._closed:
            await self._sync_shielded(emptied)

    async def close(self) -> None:
        """End every subscription, stop the reader and close the shared connection."""
        self._closed = True
        subscriptions = {s for state in self._channels.values() for s in state.subscribers}
        for subscription in subscriptions:
            subscription.end()
        for state in self._channels.values():
            state.subscribers.clear()
            state.confirmed.set()  # wake anyone still waiting to enter
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.wait([reader])
        if self._background:  # commands still queued are no-ops now
            await asyncio.wait(set(self._background))
        async with self._lock:
            connection, self._connection = self._connection, None
            self._channels.clear()
        if connection is not None:
            await self._discard(connection)

    # ----------------------------------------------------------------- subscribing

    async def _register(self, subscription: RedisSubscription) -> None:
        for name in subscription.names:
            self._channels.setdefault(name, _Channel()).subscribers.add(subscription)
        await self._sync_shielded(subscription.names)
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                for name in subscription.names:
                    while not (self._closed or subscription.closed):
                        state = self._channels.get(name)
                        if state is None or state.ready:
                            break
                        await state.confirmed.wait()
        except TimeoutError:
            raise DependencyUnavailable(
                "cache", f"Redis did not confirm the subscription within {SUBSCRIBE_TIMEOUT:g}s"
            ) from None

    async def _sync_shielded(self, names: Sequence[str]) -> None:
        """Run :meth:`_sync` under the lock in its own task: a caller cancelled meanwhile
        cannot cut a command in half (redis-py would drop the connection) or skip it."""
        task = asyncio.create_task(self._sync_locked(names))
        self._background.add(task)
        task.add_done_callback(self._settled)
        await asyncio.shield(task)

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved here too, in case its caller was cancelled

    async def _sync_locked(self, names: Sequence[str]) -> None:
        async with self._lock:
            await self._sync(names)

    async def _sync(self, names: Sequence[str]) -> None:
        """Bring Redis in line with the local subscribers of ``names`` (lock held)."""
        if self._closed:
            return
        connection = self._connection
        if connection is None:
            if self._reader is not None and not self._reader.done():
                return  # reconnecting: the reader resubscribes every channel in use
            if any(name in self._channels and self._channels[name].subscribers for name in names):
                await self._connect()  # the first subscription: open the shared connection
            return
        subscribe: list[str] = []
        unsubscribe: list[str] = []
        for name in names:
            state = self._channels.get(name)
            if state is None:
                continue
            if state.subscribers and not state.subscribed:
                state.subscribed = True
                state.unconfirmed += 1
                state.confirmed.clear()
                subscribe.append(name)
            elif not state.subscribers and state.subscribed:
                state.subscribed = False
                unsubscribe.append(name)
                if state.idle:
                    del self._channels[name]
        try:
            if unsubscribe:
                await connection.execute_command("UNSUBSCRIBE", *unsubscribe)
            if subscribe:
                await connection.execute_command("SUBSCRIBE", *subscribe)
        except (RedisError, OSError) as exc:
            # The connection broke under the command: the reader replaces it and subscribes
            # every channel still in use from scratch; subscribers just wait for that.
            logger.warning("redis pub/sub command failed, reconnecting: %s", _describe(exc))
            self._stale = True

    # ----------------------------------------------------------------- the shared connection

    async def _connect(self) -> None:
        """Open the shared connection and subscribe every channel in use (lock held)."""
        connection = self._listen_client.pubsub()
        try:
            connect = cast("Callable[[], Awaitable[None]]", connection.connect)  # untyped upstream
            await connect()
            raw = cast("Connection", connection.connection)
            self.client_id = await self._identify(raw)
            live: list[str] = []
            for name, state in list(self._channels.items()):
                state.subscribed = False
                state.unconfirmed = 0
                state.confirmed.clear()
                if state.subscribers:
                    live.append(name)
                else:
                    del self._channels[name]
            if live:
                await connection.execute_command("SUBSCRIBE", *live)
            # Nothing reads this connection yet, so no confirmation can have been missed.
            for name in live:
                self._channels[name].subscribed = True
                self._channels[name].unconfirmed = 1
            # Any later (re)connect of this socket was made by redis-py behind our back and
            # lost the subscriptions: notice it, and replace the connection.
            _callbacks(raw.register_connect_callback)(self._on_reconnect)
        except BaseException:
            await self._discard(connection)
            raise
        self._connection = connection
        self._stale = False
        self.connections_opened += 1
        self._connected_at = self._last_traffic = time.monotonic()
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_loop(), name="redis-pubsub-reader")

    async def _identify(self, raw: Connection) -> int | None:
        """Name the connection (for CLIENT LIST) and learn its id; both best-effort."""
        await raw.send_command("CLIENT", "SETNAME", self.connection_name)
        await raw.send_command("CLIENT", "ID")
        replies: list[Any] = []
        for _ in range(2):
            try:
                replies.append(await raw.read_response())
            except ResponseError:  # e.g. an ACL forbidding CLIENT: names are a convenience
                replies.append(None)
        return replies[1] if isinstance(replies[1], int) else None

    def _on_reconnect(self, _connection: Any) -> None:
        self._stale = True

    async def _drop(self, connection: RedisPubSubConnection) -> None:
        """Forget a broken connection: every channel needs subscribing again."""
        async with self._lock:
            if self._connection is not connection:
                return
            self._connection = None
            self.client_id = None
            for name, state in list(self._channels.items()):
                state.subscribed = False
                state.unconfirmed = 0
                state.confirmed.clear()
                if not state.subscribers:
                    del self._channels[name]
        await self._discard(connection)

    async def _discard(self, connection: RedisPubSubConnection) -> None:
        raw = cast("Connection | None", connection.connection)
        if raw is not None:
            _callbacks(raw.deregister_connect_callback)(self._on_reconnect)
        try:
            aclose = cast("Callable[[], Awaitable[None]]", connection.aclose)  # untyped upstream
            await aclose()
        except (RedisError, OSError) as exc:  # broken already: nothing more to release
            logger.debug("closing the redis pub/sub connection failed: %s", _describe(exc))

    async def _read_loop(self) -> None:
        """Read the shared connection, fan messages out, reconnect when it breaks."""
        delay = RECONNECT_MIN
        failed = 0  # reconnects failed in a row: logged once when the first fails, once at the end
        while True:
            connection = self._connection
            if connection is None:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX)
                async with self._lock:
                    if self._connection is None and not self._closed:
                        try:
                            await self._connect()
                        except (RedisError, OSError) as exc:
                            failed += 1
                            if failed == 1:
                                logger.warning(
                                    "redis pub/sub reconnect failed, retrying until Redis "
                                    "answers: %s",
                                    _describe(exc),
                                )
                        else:
                            if failed:
                                logger.warning(
                                    "redis pub/sub reconnected after %d failed attempts", failed
                                )
                            failed = 0
                continue
            try:
                message = await connection.get_message(timeout=READ_SLICE)
                if message is None and not self._stale and await self._keepalive(connection):
                    raise ConnectionError("no reply to the keepalive PING")
            except Exception as exc:  # whatever broke, a fresh connection is the cure
                if connection is self._connection:
                    logger.warning(
                        "redis pub/sub connection lost, reconnecting: %s", _describe(exc)
                    )
                    self._stale = True
                message = None
            if self._stale and connection is self._connection:
                if time.monotonic() - self._connected_at >= STABLE_CONNECTION:
                    delay = RECONNECT_MIN
                await self._drop(connection)
                continue
            if message is not None:
                self._last_traffic = time.monotonic()
                self._dispatch(message)

    async def _keepalive(self, connection: RedisPubSubConnection) -> bool:
        """PING an idle connection; True when an earlier PING went unanswered too long."""
        now = time.monotonic()
        if now - self._last_traffic < KEEPALIVE_INTERVAL:
            return False
        if self._pinged_at > self._last_traffic:
            return now - self._pinged_at >= KEEPALIVE_TIMEOUT
        self._pinged_at = now
        async with self._lock:
            if self._connection is connection:
                await connection.execute_command("PING")
        return False

    def _dispatch(self, message: dict[str, Any]) -> None:
        raw_name = message.get("channel")
        if raw_name is None:  # pong
            return
        name = _text(raw_name)
        state = self._channels.get(name)
        if state is None:
            return
        kind = message.get("type")
        if kind == "message":
            channel = name.removeprefix(self._prefix)
            data = _bytes(message["data"])
            for subscription in list(state.subscribers):
                subscription.deliver(channel, data)
        elif kind == "subscribe" and state.unconfirmed > 0:
            state.unconfirmed -= 1
            if state.unconfirmed == 0:
                if state.subscribed:
                    state.confirmed.set()
                elif state.idle:
                    del self._channels[name]


def _describe(exc: BaseException) -> str:
    """``Type: message``; redis-py's own repr hides the message."""
    return f"{type(exc).__name__}: {exc}"


def _callbacks(method: Any) -> Callable[[Callable[[Any], None]], None]:
    """Type redis-py's untyped (de)register_connect_callback."""
    return cast("Callable[[Callable[[Any], None]], None]", method)


# --------------------------------------------------------------------------- leases


class RedisLeases(Leases):
    """Leases as strings under ``ns:ls:item:`` (SET NX PX), tokens from ``ns:ls:fence``, the
    instance registry as a sorted set ``ns:ls:instances`` scored by heartbeat deadline."""

    def __init__(self, client: aioredis.Redis, namespace: str) -> None:
        self._client = client
        self._items = f"{namespace}:ls:item:"
        self._fence = f"{namespace}:ls:fence"
        self._registry = f"{namespace}:ls:instances"
        self._acquire = client.register_script(_ACQUIRE_LUA)
        self._renew = client.register_script(_RENEW_LUA)
        self._release = client.register_script(_RELEASE_LUA)
        self._lookup = client.register_script(_LOOKUP_LUA)
        self._instances = client.register_script(_INSTANCES_LUA)

    async def acquire(self, item: str, holder: str, *, ttl: float) -> int | None:
        _check_ttl(ttl)
        token = await self._acquire(keys=[self._items + item, self._fence], args=[holder, _ms(ttl)])
        return None if token is None else int(token)

    async def renew(self, item: str, holder: str, token: int, *, ttl: float) -> bool:
        _check_ttl(ttl)
        value = f"{token}:{holder}"
        return bool(await self._renew(keys=[self._items + item], args=[value, _ms(ttl)]))

    async def release(self, item: str, holder: str, token: int) -> bool:
        return bool(await self._release(keys=[self._items + item], args=[f"{token}:{holder}"]))

    async def lookup(self, *items: str) -> list[LeaseRecord | None]:
        if not items:
            return []
        flat = cast("list[Any]", await self._lookup(keys=[self._items + item for item in items]))
        found: list[LeaseRecord | None] = []
        for item, value, pttl in zip(items, flat[::2], flat[1::2], strict=True):
            if not value or int(pttl) < 0:
                found.append(None)
                continue
            token, _, holder = _text(value).partition(":")
            found.append(LeaseRecord(item, holder, int(token), int(pttl) / 1000))
        return found

    async def held(self) -> list[LeaseRecord]:
        pattern = _glob_escape(self._items) + "*"
        items = sorted(
            {_text(key)[len(self._items) :] async for key in self._client.scan_iter(match=pattern)}
        )
        found: list[LeaseRecord] = []
        for start in range(0, len(items), 500):
            batch = await self.lookup(*items[start : start + 500])
            found.extend(record for record in batch if record is not None)
        return found

    async def heartbeat(self, instance: str, *, ttl: float) -> None:
        _check_ttl(ttl)
        if not instance:
            raise ValueError("instance id must not be empty")
        await self._instances(keys=[self._registry], args=[instance, _ms(ttl)])

    async def leave(self, instance: str) -> None:
        await self._client.zrem(self._registry, instance)

    async def instances(self) -> dict[str, float]:
        flat = cast("list[Any]", await self._instances(keys=[self._registry], args=["", 0]))
        return {
            _text(name): int(left) / 1000 for name, left in zip(flat[::2], flat[1::2], strict=True)
        }


# --------------------------------------------------------------------------- bundle


class RedisBackend(Backend):
    """Key-value, queues and pub/sub sharing one connection pool and one key namespace."""

    kv: RedisKeyValue
    queues: RedisWorkQueue
    pubsub: RedisPubSub
    leases: RedisLeases

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        namespace: str,
        listen_client: aioredis.Redis | None = None,
    ) -> None:
        self._client = client
        self._listen_client = listen_client
        self.namespace = namespace
        self.kv = RedisKeyValue(client, namespace)
        self.queues = RedisWorkQueue(client, namespace)
        self.pubsub = RedisPubSub(client, namespace, listen_client=listen_client)
        self.leases = RedisLeases(client, namespace)
        self._finish = client.register_script(_FINISH_LUA)

    async def finish(
        self, queue: str, group: str, item_id: str, *, mark: str, value: str, ttl: float
    ) -> None:
        _check_ttl(ttl)
        await self._finish(
            keys=[self.queues.stream_key(queue), self.kv.key(mark)],
            args=[group, value, _ms(ttl), item_id if _STREAM_ID.match(item_id) else ""],
        )

    @classmethod
    def from_url(
        cls, url: str, *, namespace: str, reply_timeout: float = REPLY_TIMEOUT
    ) -> RedisBackend:
        """Build a backend on a fresh pool; nothing connects until the first command.

        A command that meets a dead pooled connection (Redis restarted since it was opened)
        is retried on a fresh one, twice with a short jittered backoff, so a restart costs
        no request; a Redis that stays away still fails fast enough for a 503.

        redis-py waits for a reply, and for a closing connection, without limit by default: a
        half-open link (a partition, a peer that vanished) would hang its caller for good, and
        a shutdown with it. Connects and closes are bounded by ``socket_connect_timeout``;
        each command by ``reply_timeout`` (see :class:`_BoundedRedis` for why not redis-py's
        ``socket_timeout``).
        """
        retry = _SharedRetry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), COMMAND_RETRIES)
        bounds: dict[str, Any] = {
            "socket_timeout": None,  # explicitly: redis-py 8 otherwise sends under wait_for
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_keepalive": True,
        }
        client = cast(
            "_BoundedRedis",
            _BoundedRedis.from_url(url, decode_responses=False, retry=retry, **bounds),
        )
        client.reply_timeout = reply_timeout
        client.batches = AutoPipeline(client, reply_timeout)
        listen = aioredis.Redis.from_url(url, decode_responses=False, **bounds)
        return cls(client, namespace=namespace, listen_client=listen)

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(PING_TIMEOUT):
                return bool(await self._client.ping())
        except Exception as exc:
            logger.debug("redis ping failed: %r", exc)
            return False

    async def close(self) -> None:
        """Release connections only: data stays, other processes may still be using it."""
        retry = self._client.get_retry()
        if retry is not None:  # a read cut short by closing must end, not reconnect
            retry.update_retries(0)  # shared by every connection: see _SharedRetry
        self.queues.close()
        await self.pubsub.close()
        await self._client.aclose()
        if self._listen_client is not None:
            await self._listen_client.aclose()

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


class _BoundedRedis(aioredis.Redis):
    """A client whose every command fails after ``reply_timeout`` seconds without a reply.

    Not redis-py's ``socket_timeout`` (which redis-py 8 sets to 5 s unless it is passed as
    None): with it, redis-py sends each command through ``asyncio.wait_for``, which on Python
    3.11 swallows a cancellation that arrives as the send completes — measured, most
    cancellations of a task mid-command were lost, so loops (the coordinator, the queue
    gauges) never stopped and shutdowns hung. ``asyncio.timeout`` here loses none; a read cut
    short drops its connection.
    """

    reply_timeout: float = REPLY_TIMEOUT
    batches: AutoPipeline | None = None  # set by RedisBackend.from_url

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        _count(args)
        if self.batches is not None and args[0] in BATCHED:
            # a batch is bounded by the same timeout as a command sent alone
            return await self.batches.execute(args, options, self._bounded)
        return await self._bounded(args, options)

    async def _bounded(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        REDIS_ROUND_TRIPS.inc()
        try:
            async with asyncio.timeout(self.reply_timeout):
                return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except TimeoutError:
            raise no_reply(self.reply_timeout) from None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        if self.batches is not None:
            await self.batches.close()
        await super().aclose(close_connection_pool)


def _script_names() -> dict[bytes | str, str]:
    """Each Lua script's SHA-1 (as redis-py sends it) → its name, for the command metric."""
    names: dict[bytes | str, str] = {}
    for name, value in globals().items():
        if name.startswith("_") and name.endswith("_LUA") and isinstance(value, str):
            sha = hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()
            names[sha] = names[sha.encode()] = "script:" + name[1:-4].lower()
    return names


_SCRIPT_NAMES = _script_names()
_COMMAND_COUNTERS: dict[str, Any] = {}


def _count(args: tuple[Any, ...]) -> None:
    """One more command in ``waddlebot_redis_commands_total`` (children cached: this runs
    for every command)."""
    command = args[0] if args else "?"
    if command == "EVALSHA" and len(args) > 1:
        command = _SCRIPT_NAMES.get(args[1], "script:other")
    counter = _COMMAND_COUNTERS.get(command)
    if counter is None:
        counter = _COMMAND_COUNTERS[command] = REDIS_COMMANDS.labels(str(command))
    counter.inc()


class _SharedRetry(Retry):
    """One retry policy for every connection of the pool. redis-py deep-copies it into each
    connection; sharing it (it holds no per-call state) lets :meth:`RedisBackend.close`
    switch retrying off for all of them at once."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _SharedRetry:
        return self


def _glob_escape(text: str) -> str:
    """Escape SCAN MATCH metacharacters so a namespace is matched literally."""
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)
