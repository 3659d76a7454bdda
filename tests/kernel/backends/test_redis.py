"""Behaviour only the Redis backend has: one shared pub/sub connection per backend.

Connections are found by the unique name the backend gives its pub/sub connection, so tests
running against the same Redis at the same time do not disturb each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.conftest import REDIS_URL, require_service
from tests.kernel.backends.conftest import silent_redis
from waddlebot.kernel.backends.redis import RedisBackend, RedisPubSub, RedisSubscription
from waddlebot.kernel.outages import CACHE, dependency_of


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def admin() -> AsyncIterator[aioredis.Redis]:
    """A plain client for looking at (and killing) connections from the outside."""
    url = require_service(REDIS_URL, "Redis", "WADDLEBOT_TEST_REDIS_URL")
    client = aioredis.Redis.from_url(url)
    try:
        yield client
    finally:
        await client.aclose()


async def pubsub_connections(admin: aioredis.Redis, pubsub: RedisPubSub) -> list[dict[str, Any]]:
    """The server-side connections carrying this backend's pub/sub."""
    clients = await admin.client_list()
    return [c for c in clients if _text(c.get("name", "")) == pubsub.connection_name]


async def wait_for_connections(
    admin: aioredis.Redis, pubsub: RedisPubSub, count: int, timeout: float = 3
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = await pubsub_connections(admin, pubsub)
        if len(found) == count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


async def numsub(admin: aioredis.Redis, channel: str) -> int:
    [(_name, count)] = await admin.pubsub_numsub(channel)
    return int(count)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def test_many_subscriptions_share_one_connection(
    redis_backend: RedisBackend, admin: aioredis.Redis
) -> None:
    pubsub = redis_backend.pubsub
    for i in range(200):
        channel = unique(f"cycle{i}")
        async with pubsub.subscribe(channel, channel + "-other") as subscription:
            await pubsub.publish(channel, f"m{i}")
            assert await subscription.get(timeout=2) == (channel, f"m{i}".encode())
    assert pubsub.connections_opened == 1
    connections = await pubsub_connections(admin, pubsub)
    assert len(connections) == 1
    assert int(connections[0]["id"]) == pubsub.client_id
    # Every channel was unsubscribed again, none piles up on the connection.
    assert int(connections[0]["sub"]) == 0


async def test_concurrent_subscriptions_share_one_connection(
    redis_backend: RedisBackend, admin: aioredis.Redis
) -> None:
    pubsub = redis_backend.pubsub

    async def converse(i: int) -> tuple[str, bytes] | None:
        channel = unique(f"conc{i}")
        async with pubsub.subscribe(channel) as subscription:
            await pubsub.publish(channel, b"hi")
            return await subscription.get(timeout=3)

    results = await asyncio.gather(*(converse(i) for i in range(100)))
    assert all(result is not None and result[1] == b"hi" for result in results)
    assert pubsub.connections_opened == 1
    assert len(await pubsub_connections(admin, pubsub)) == 1


async def test_local_subscribers_share_one_redis_subscription(
    redis_backend: RedisBackend, admin: aioredis.Redis
) -> None:
    pubsub = redis_backend.pubsub
    channel = unique("shared")
    full_name = f"{redis_backend.namespace}:ch:{channel}"
    async with pubsub.subscribe(channel) as staying:
        async with pubsub.subscribe(channel) as leaving:
            assert await numsub(admin, full_name) == 1  # one connection, subscribed once
            await pubsub.publish(channel, b"both")
            assert await staying.get(timeout=2) == (channel, b"both")
            assert await leaving.get(timeout=2) == (channel, b"both")
        await pubsub.publish(channel, b"one left")
        assert await staying.get(timeout=2) == (channel, b"one left")
        assert await leaving.get(timeout=0.1) is None
        assert await numsub(admin, full_name) == 1
    deadline = time.monotonic() + 3
    while await numsub(admin, full_name) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await numsub(admin, full_name) == 0


async def test_resubscribe_right_after_the_last_subscriber_left(
    redis_backend: RedisBackend,
) -> None:
    pubsub = redis_backend.pubsub
    channel = unique("race")
    for i in range(50):
        async with pubsub.subscribe(channel):
            pass  # UNSUBSCRIBE is on its way when the next SUBSCRIBE goes out
        async with pubsub.subscribe(channel) as subscription:
            await pubsub.publish(channel, f"m{i}")
            assert await subscription.get(timeout=2) == (channel, f"m{i}".encode())


async def test_subscribe_while_the_last_subscriber_is_leaving(
    redis_backend: RedisBackend,
) -> None:
    pubsub = redis_backend.pubsub
    channel = unique("race")
    for i in range(50):
        leaving = pubsub.subscribe(channel)
        await leaving.__aenter__()
        exit_task = asyncio.create_task(leaving.__aexit__(None, None, None))
        async with pubsub.subscribe(channel) as subscription:
            await exit_task
            await pubsub.publish(channel, f"m{i}")
            assert await subscription.get(timeout=2) == (channel, f"m{i}".encode())


async def wait_until(condition: Callable[[], bool], timeout: float = 2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.001)


async def test_confirmation_of_an_abandoned_subscribe_does_not_admit_a_newcomer(
    redis_backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SUBSCRIBE (leaver, then cancelled), UNSUBSCRIBE, SUBSCRIBE (newcomer) are all in flight:
    the newcomer may only enter on the second confirmation, not on the leaver's."""
    pubsub = redis_backend.pubsub
    async with pubsub.subscribe(unique("warmup")):
        pass  # the shared connection exists from here on
    connection = pubsub._connection
    assert connection is not None

    gate, parked = asyncio.Event(), asyncio.Event()
    read = connection.get_message

    async def gated_read(*args: Any, **kwargs: Any) -> Any:
        parked.set()
        await gate.wait()
        return await read(*args, **kwargs)

    readiness: list[bool] = []  # channel ready after each of its confirmations
    dispatch = pubsub._dispatch

    def recording(message: dict[str, Any]) -> None:
        dispatch(message)
        if message.get("type") == "subscribe":
            state = pubsub._channels.get(_text(message["channel"]))
            readiness.append(state is not None and state.ready)

    monkeypatch.setattr(connection, "get_message", gated_read)
    monkeypatch.setattr(pubsub, "_dispatch", recording)
    async with pubsub._lock:  # a PONG brings the reader round to the gate
        await connection.execute_command("PING")
    await asyncio.wait_for(parked.wait(), timeout=2)

    channel = unique("abandoned")
    name = f"{redis_backend.namespace}:ch:{channel}"
    leaver = asyncio.create_task(pubsub.subscribe(channel).__aenter__())
    await wait_until(lambda: name in pubsub._channels and pubsub._channels[name].unconfirmed > 0)
    leaver.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await leaver
    assert not pubsub._channels[name].subscribers

    entering = pubsub.subscribe(channel)
    newcomer = asyncio.create_task(entering.__aenter__())
    await wait_until(lambda: pubsub._channels[name].unconfirmed == 2)
    await asyncio.sleep(0.1)  # every reply is waiting on the socket by now
    assert not newcomer.done()
    gate.set()
    subscription = await asyncio.wait_for(newcomer, timeout=3)
    try:
        assert readiness == [False, True]
        await pubsub.publish(channel, b"in time")
        assert await subscription.get(timeout=2) == (channel, b"in time")
    finally:
        await entering.__aexit__(None, None, None)


async def test_reconnects_after_the_connection_is_killed(
    redis_backend: RedisBackend, admin: aioredis.Redis
) -> None:
    pubsub = redis_backend.pubsub
    channel, other = unique("kill"), unique("kill")
    async with pubsub.subscribe(channel, other) as subscription:
        [connection] = await pubsub_connections(admin, pubsub)
        assert await admin.client_kill_filter(_id=connection["id"]) == 1

        received = None
        deadline = time.monotonic() + 5
        attempt = 0
        while received is None and time.monotonic() < deadline:
            attempt += 1
            await pubsub.publish(channel, f"after-{attempt}")
            received = await subscription.get(timeout=0.1)
        assert received is not None and received[0] == channel
        assert received[1].startswith(b"after-")

        assert pubsub.connections_opened == 2
        [replacement] = await pubsub_connections(admin, pubsub)
        assert replacement["id"] != connection["id"]
        assert int(replacement["sub"]) == 2  # both channels subscribed again

        await pubsub.publish(other, b"still here")
        while (message := await subscription.get(timeout=2)) is not None:
            if message[0] == other:
                break
        assert message == (other, b"still here")

    # New subscriptions use the replacement connection.
    async with pubsub.subscribe(channel) as again:
        await pubsub.publish(channel, b"new")
        assert await again.get(timeout=2) == (channel, b"new")
    assert pubsub.connections_opened == 2


async def test_subscribe_while_reconnecting_waits_for_the_new_connection(
    redis_backend: RedisBackend, admin: aioredis.Redis
) -> None:
    pubsub = redis_backend.pubsub
    channel = unique("wait")
    async with pubsub.subscribe(unique("keep")):
        [connection] = await pubsub_connections(admin, pubsub)
        await admin.client_kill_filter(_id=connection["id"])
        for _ in range(100):  # until the reader has noticed
            if pubsub._connection is None:
                break
            await asyncio.sleep(0.01)
        async with pubsub.subscribe(channel) as subscription:
            await pubsub.publish(channel, b"after entry")
            assert await subscription.get(timeout=2) == (channel, b"after entry")
    assert pubsub.connections_opened == 2


async def test_close_ends_subscriptions_and_the_connection(
    redis_backend: RedisBackend, admin: aioredis.Redis
) -> None:
    pubsub = redis_backend.pubsub
    channel = unique("close")
    async with pubsub.subscribe(channel) as subscription:
        received: list[tuple[str, bytes]] = []

        async def collect() -> None:
            async for message in subscription:
                received.append(message)

        reader = asyncio.create_task(collect())
        await pubsub.publish(channel, b"before close")
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.02)
        assert len(await pubsub_connections(admin, pubsub)) == 1
        await redis_backend.close()
        await asyncio.wait_for(reader, timeout=3)
        assert received == [(channel, b"before close")]
        assert await subscription.get(timeout=0.1) is None
    assert await wait_for_connections(admin, pubsub, 0) == []
    with pytest.raises(RuntimeError):
        async with pubsub.subscribe(channel):
            pass


async def test_slow_subscriber_loses_its_oldest_messages(redis_backend: RedisBackend) -> None:
    pubsub = RedisPubSub(redis_backend._client, redis_backend.namespace, buffer=3)
    channel = unique("slow")
    try:
        async with pubsub.subscribe(channel) as subscription:
            assert isinstance(subscription, RedisSubscription)
            for i in range(5):
                await pubsub.publish(channel, f"m{i}")
            probe_channel = unique("probe")
            async with pubsub.subscribe(probe_channel) as probe:
                await pubsub.publish(probe_channel, b"probe")  # arrives after all five
                assert await probe.get(timeout=2) == (probe_channel, b"probe")
            got = [await subscription.get(timeout=1) for _ in range(3)]
            assert got == [(channel, b"m2"), (channel, b"m3"), (channel, b"m4")]
            assert subscription.dropped == 2
    finally:
        await pubsub.close()


async def test_unreachable_redis_fails_the_first_subscribe() -> None:
    backend = RedisBackend.from_url("redis://127.0.0.1:1/0", namespace=unique("down"))
    try:
        with pytest.raises(RedisConnectionError):
            async with backend.pubsub.subscribe("anything"):
                pass
        assert backend.pubsub._channels == {}
    finally:
        await backend.close()


async def test_a_redis_that_never_answers_fails_commands_instead_of_hanging() -> None:
    """A half-open link (a partition, a peer gone without a FIN) must not hang a caller, nor
    a shutdown, for good: each command is bounded (10 s by default)."""
    async with silent_redis() as server:
        default = RedisBackend.from_url(server.url, namespace=unique("t"))
        assert default._client.reply_timeout == 10.0  # type: ignore[attr-defined]
        await default.close()
        backend = RedisBackend.from_url(server.url, namespace=unique("silent"), reply_timeout=0.3)
        try:
            started = time.monotonic()
            with pytest.raises(Exception) as refused:
                await asyncio.wait_for(backend.queues.depth("events"), timeout=20)
            assert dependency_of(refused.value) == CACHE  # an outage, as for a Redis that is down
            assert time.monotonic() - started < 5
            assert server.accepted
        finally:
            await asyncio.wait_for(backend.close(), timeout=5)


async def test_a_task_cancelled_mid_command_stops(redis_backend: RedisBackend) -> None:
    """Cancelling a task while it is inside a Redis command always ends it. (With redis-py's
    ``socket_timeout`` set, Python 3.11's ``asyncio.wait_for`` lost most such cancellations,
    and loops like the coordinator's never stopped.)"""
    kept_running = 0
    counter = unique("beat")
    for n in range(200):

        async def beat() -> None:
            while True:
                await redis_backend.kv.incr(counter)

        task = asyncio.create_task(beat())
        await asyncio.sleep((n % 30) / 10_000)  # land the cancel at many points of a command
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        if not done:
            kept_running += 1
            task.cancel()
    assert kept_running == 0
