"""Auto-pipelining of the Redis backend's commands (``kernel/backends/redis_batching.py``),
against a real Redis: commands issued together share a connection and a write, each keeps
its own reply or error, and a batch is bounded like a command sent alone."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.exceptions import ResponseError

from tests.conftest import REDIS_URL, require_service
from waddlebot.kernel.backends.redis import RedisBackend
from waddlebot.kernel.outages import CACHE, dependency_of


@pytest.fixture
async def backend() -> AsyncIterator[RedisBackend]:
    url = require_service(REDIS_URL, "Redis", "WADDLEBOT_TEST_REDIS_URL")
    backend = RedisBackend.from_url(url, namespace=f"wbtest-{uuid.uuid4().hex[:12]}")
    try:
        yield backend
    finally:
        await backend.drop_namespace()
        await backend.close()


def pooled_connections(backend: RedisBackend) -> int:
    """Connections the backend's command pool has opened (idle + in use)."""
    return sum(count for count, _ in backend._client.connection_pool.get_connection_count())


async def test_commands_issued_together_share_one_connection(backend: RedisBackend) -> None:
    keys = [f"key{n}" for n in range(50)]
    for key in keys:
        await backend.kv.set(key, f"value of {key}")
    assert pooled_connections(backend) == 1

    values = await asyncio.gather(*(backend.kv.get(key) for key in keys))

    assert values == [f"value of {key}".encode() for key in keys]
    # The first went alone; the 49 issued while it was on its way went as one batch on one
    # more connection. Sent one by one, they would have opened 50.
    assert pooled_connections(backend) <= 2


async def test_an_error_reply_fails_only_its_own_command(backend: RedisBackend) -> None:
    client: Any = backend._client
    wrong = f"{backend.namespace}:kv:a-sorted-set"
    await client.zadd(wrong, {"member": 1})
    await backend.kv.set("a", "1")
    await backend.kv.set("b", "2")

    first, a, refused, b = await asyncio.gather(
        backend.kv.get("a"),
        backend.kv.get("a"),
        client.get(wrong),  # WRONGTYPE, in the same batch as its neighbours
        backend.kv.get("b"),
        return_exceptions=True,
    )

    assert (first, a, b) == (b"1", b"1", b"2")
    assert isinstance(refused, ResponseError)
    assert "WRONGTYPE" in str(refused)
    assert await backend.kv.get("b") == b"2"  # the connection is still in step


async def test_a_caller_that_gives_up_leaves_the_others_answered(backend: RedisBackend) -> None:
    for n in range(10):
        await backend.kv.set(f"k{n}", str(n))
    calls = [asyncio.create_task(backend.kv.get(f"k{n}")) for n in range(10)]
    await asyncio.sleep(0)  # every call is queued or on its way
    calls[4].cancel()

    results = await asyncio.gather(*calls, return_exceptions=True)

    assert isinstance(results[4], asyncio.CancelledError)
    assert [r for n, r in enumerate(results) if n != 4] == [
        str(n).encode() for n in range(10) if n != 4
    ]
    assert await backend.kv.get("k4") == b"4"


async def test_scripts_are_batched_and_loaded_when_redis_forgot_them(
    backend: RedisBackend,
) -> None:
    client: Any = backend._client
    await client.script_flush()  # as after a Redis restart: EVALSHA answers NOSCRIPT
    counted = await asyncio.gather(*(backend.kv.incr("hits") for _ in range(20)))
    assert sorted(counted) == list(range(1, 21))


async def test_batches_against_a_redis_that_never_answers_fail_in_time() -> None:
    """A half-open link: every caller of a batch fails with the outage error within the
    reply timeout, as a command sent alone does, and closing does not hang."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    backend = RedisBackend.from_url(
        f"redis://127.0.0.1:{port}/0", namespace="silent", reply_timeout=0.3
    )
    try:
        started = time.monotonic()
        results = await asyncio.wait_for(
            asyncio.gather(*(backend.kv.get(f"k{n}") for n in range(5)), return_exceptions=True),
            timeout=20,
        )
        assert time.monotonic() - started < 5
        assert all(isinstance(r, Exception) and dependency_of(r) == CACHE for r in results)
    finally:
        await asyncio.wait_for(backend.close(), timeout=5)
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_closing_fails_the_batches_on_their_way() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    backend = RedisBackend.from_url(f"redis://127.0.0.1:{port}/0", namespace="closing")
    try:
        calls = [asyncio.create_task(backend.kv.get(f"k{n}")) for n in range(5)]
        while len(accepted) < 2:  # the lone command's connection and the batch's
            await asyncio.sleep(0.01)
        await asyncio.wait_for(backend.close(), timeout=5)
        results = await asyncio.wait_for(
            asyncio.gather(*calls[1:], return_exceptions=True), timeout=5
        )
        assert all(isinstance(r, Exception) and dependency_of(r) == CACHE for r in results)
        calls[0].cancel()
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
