"""Auto-pipelining of the Redis backend's commands (``kernel/backends/redis_batching.py``),
against a real Redis: commands issued together share a connection and a write, each keeps
its own reply or error, and a batch is bounded like a command sent alone."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prometheus_client import Counter
from redis.exceptions import ResponseError

from tests.kernel.backends.conftest import silent_redis
from waddlebot.kernel.backends.redis import RedisBackend
from waddlebot.kernel.observability.metrics import REDIS_COMMANDS, REDIS_ROUND_TRIPS
from waddlebot.kernel.outages import CACHE, dependency_of


def pooled_connections(backend: RedisBackend) -> int:
    """Connections the backend's command pool has opened (idle + in use)."""
    return sum(count for count, _ in backend._client.connection_pool.get_connection_count())


async def test_commands_issued_together_share_one_connection(redis_backend: RedisBackend) -> None:
    keys = [f"key{n}" for n in range(50)]
    for key in keys:
        await redis_backend.kv.set(key, f"value of {key}")
    assert pooled_connections(redis_backend) == 1

    values = await asyncio.gather(*(redis_backend.kv.get(key) for key in keys))

    assert values == [f"value of {key}".encode() for key in keys]
    # The first went alone; the 49 issued while it was on its way went as one batch on one
    # more connection. Sent one by one, they would have opened 50.
    assert pooled_connections(redis_backend) <= 2


def counted() -> tuple[float, float]:
    """(commands, round trips) this process has sent to Redis so far."""

    def total(counter: Counter) -> float:
        return sum(
            sample.value
            for metric in counter.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        )

    return total(REDIS_COMMANDS), total(REDIS_ROUND_TRIPS)


async def test_round_trips_are_counted_per_write_not_per_command(
    redis_backend: RedisBackend,
) -> None:
    await redis_backend.kv.set("key", "value")
    commands, round_trips = counted()

    await redis_backend.kv.get("key")  # alone: one command, one round trip
    assert counted() == (commands + 1, round_trips + 1)

    await asyncio.gather(*(redis_backend.kv.get("key") for _ in range(20)))
    # the first alone, the other 19 together while it was on its way
    assert counted() == (commands + 21, round_trips + 3)


async def test_an_error_reply_fails_only_its_own_command(redis_backend: RedisBackend) -> None:
    client: Any = redis_backend._client
    wrong = f"{redis_backend.namespace}:kv:a-sorted-set"
    await client.zadd(wrong, {"member": 1})
    await redis_backend.kv.set("a", "1")
    await redis_backend.kv.set("b", "2")

    first, a, refused, b = await asyncio.gather(
        redis_backend.kv.get("a"),
        redis_backend.kv.get("a"),
        client.get(wrong),  # WRONGTYPE, in the same batch as its neighbours
        redis_backend.kv.get("b"),
        return_exceptions=True,
    )

    assert (first, a, b) == (b"1", b"1", b"2")
    assert isinstance(refused, ResponseError)
    assert "WRONGTYPE" in str(refused)
    assert await redis_backend.kv.get("b") == b"2"  # the connection is still in step


async def test_a_caller_that_gives_up_leaves_the_others_answered(
    redis_backend: RedisBackend,
) -> None:
    for n in range(10):
        await redis_backend.kv.set(f"k{n}", str(n))
    calls = [asyncio.create_task(redis_backend.kv.get(f"k{n}")) for n in range(10)]
    await asyncio.sleep(0)  # every call is queued or on its way
    calls[4].cancel()

    results = await asyncio.gather(*calls, return_exceptions=True)

    assert isinstance(results[4], asyncio.CancelledError)
    assert [r for n, r in enumerate(results) if n != 4] == [
        str(n).encode() for n in range(10) if n != 4
    ]
    assert await redis_backend.kv.get("k4") == b"4"


async def test_scripts_are_batched_and_loaded_when_redis_forgot_them(
    redis_backend: RedisBackend,
) -> None:
    client: Any = redis_backend._client
    await client.script_flush()  # as after a Redis restart: EVALSHA answers NOSCRIPT
    counted = await asyncio.gather(*(redis_backend.kv.incr("hits") for _ in range(20)))
    assert sorted(counted) == list(range(1, 21))


async def test_batches_against_a_redis_that_never_answers_fail_in_time() -> None:
    """A half-open link: every caller of a batch fails with the outage error within the
    reply timeout, as a command sent alone does, and closing does not hang."""
    async with silent_redis() as server:
        backend = RedisBackend.from_url(server.url, namespace="silent", reply_timeout=0.3)
        try:
            started = time.monotonic()
            gets = asyncio.gather(
                *(backend.kv.get(f"k{n}") for n in range(5)), return_exceptions=True
            )
            results = await asyncio.wait_for(gets, timeout=20)
            assert time.monotonic() - started < 5
            assert all(isinstance(r, Exception) and dependency_of(r) == CACHE for r in results)
        finally:
            await asyncio.wait_for(backend.close(), timeout=5)


async def test_closing_fails_the_batches_on_their_way() -> None:
    async with silent_redis() as server:
        backend = RedisBackend.from_url(server.url, namespace="closing")
        calls = [asyncio.create_task(backend.kv.get(f"k{n}")) for n in range(5)]
        while len(server.accepted) < 2:  # the lone command's connection and the batch's
            await asyncio.sleep(0.01)
        await asyncio.wait_for(backend.close(), timeout=5)
        batched = await asyncio.wait_for(
            asyncio.gather(*calls[1:], return_exceptions=True), timeout=5
        )
        assert all(isinstance(r, Exception) and dependency_of(r) == CACHE for r in batched)
        calls[0].cancel()  # the lone command waits out its own reply timeout
        await asyncio.gather(calls[0], return_exceptions=True)
