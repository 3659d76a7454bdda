"""The backend contract: every test runs on the in-memory backend and on real Redis.

Timing assertions are deliberately generous: they check behaviour (expiry happens, a blocked
take wakes up), not speed.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from waddlebot.kernel.backends import Backend, Delivery, QueueFull, RateWindow


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------- key-value


async def test_get_set_delete(backend: Backend) -> None:
    key, other = unique("k"), unique("k")
    assert await backend.kv.get(key) is None
    assert await backend.kv.set(key, b"v1") is True
    assert await backend.kv.get(key) == b"v1"
    assert await backend.kv.set(key, "v2") is True
    assert await backend.kv.get(key) == b"v2"
    await backend.kv.set(other, b"x")
    assert await backend.kv.delete(key, other, unique("missing")) == 2
    assert await backend.kv.get(key) is None
    assert await backend.kv.delete(key) == 0


async def test_get_many_reads_several_keys_in_order(backend: Backend) -> None:
    first, missing, expiring, last = unique("m"), unique("m"), unique("m"), unique("m")
    await backend.kv.set(first, b"1")
    await backend.kv.set(expiring, b"gone", ttl=0.05)
    await backend.kv.set(last, "3")
    await asyncio.sleep(0.1)
    assert await backend.kv.get_many(first, missing, expiring, last) == [b"1", None, None, b"3"]
    assert await backend.kv.get_many() == []


async def test_ttl_expiry(backend: Backend) -> None:
    key = unique("ttl")
    await backend.kv.set(key, b"v", ttl=0.2)
    left = await backend.kv.ttl(key)
    assert left is not None and 0 < left <= 0.2
    assert await backend.kv.get(key) == b"v"
    await asyncio.sleep(0.35)
    assert await backend.kv.get(key) is None
    assert await backend.kv.ttl(key) is None


async def test_ttl_none_without_expiry_or_key(backend: Backend) -> None:
    key = unique("ttl")
    assert await backend.kv.ttl(key) is None
    await backend.kv.set(key, b"v")
    assert await backend.kv.ttl(key) is None
    await backend.kv.set(key, b"v", ttl=10)
    await backend.kv.set(key, b"w")  # a plain set clears the expiry, as SET does
    assert await backend.kv.ttl(key) is None


async def test_set_only_if_absent(backend: Backend) -> None:
    key = unique("nx")
    assert await backend.kv.set(key, b"first", only_if_absent=True) is True
    assert await backend.kv.set(key, b"second", only_if_absent=True) is False
    assert await backend.kv.get(key) == b"first"


async def test_set_only_if_absent_after_expiry(backend: Backend) -> None:
    key = unique("nx")
    assert await backend.kv.set(key, b"first", ttl=0.1, only_if_absent=True) is True
    await asyncio.sleep(0.25)
    assert await backend.kv.set(key, b"second", only_if_absent=True) is True
    assert await backend.kv.get(key) == b"second"


async def test_incr_is_atomic_under_concurrency(backend: Backend) -> None:
    key = unique("ctr")
    results = await asyncio.gather(*(backend.kv.incr(key) for _ in range(50)))
    assert sorted(results) == list(range(1, 51))
    assert await backend.kv.get(key) == b"50"
    assert await backend.kv.incr(key, 5) == 55
    assert await backend.kv.incr(key, -10) == 45


async def test_incr_ttl_only_on_creation(backend: Backend) -> None:
    key = unique("ctr")
    assert await backend.kv.incr(key, ttl=0.4) == 1
    await asyncio.sleep(0.2)
    assert await backend.kv.incr(key, ttl=10) == 2  # must not push the expiry out
    left = await backend.kv.ttl(key)
    assert left is not None and left <= 0.25
    await asyncio.sleep(0.35)
    assert await backend.kv.get(key) is None
    assert await backend.kv.incr(key) == 1
    assert await backend.kv.ttl(key) is None


async def test_incr_without_ttl_never_gains_one(backend: Backend) -> None:
    key = unique("ctr")
    await backend.kv.incr(key)
    await backend.kv.incr(key, ttl=5)
    assert await backend.kv.ttl(key) is None


async def test_sliding_window_rate_limit(backend: Backend) -> None:
    key = unique("rl")
    decisions = [await backend.kv.hit_rate_limit(key, limit=3, window=0.5) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, True]
    assert [d.remaining for d in decisions] == [2, 1, 0]
    assert all(d.retry_after == 0 for d in decisions)

    refused = await backend.kv.hit_rate_limit(key, limit=3, window=0.5)
    assert refused.allowed is False
    assert refused.remaining == 0
    assert 0 < refused.retry_after <= 0.5

    await asyncio.sleep(refused.retry_after + 0.1)
    again = await backend.kv.hit_rate_limit(key, limit=3, window=0.5)
    assert again.allowed is True


async def test_rate_limit_refused_hits_are_not_recorded(backend: Backend) -> None:
    key = unique("rl")
    for _ in range(3):
        assert (await backend.kv.hit_rate_limit(key, limit=3, window=0.5)).allowed
    await asyncio.sleep(0.3)
    for _ in range(10):  # hammering while refused must not extend the lock-out
        assert not (await backend.kv.hit_rate_limit(key, limit=3, window=0.5)).allowed
    # The allowed hits have left the window; recorded refusals would still fill it.
    await asyncio.sleep(0.3)
    allowed = [
        (await backend.kv.hit_rate_limit(key, limit=3, window=0.5)).allowed for _ in range(4)
    ]
    assert allowed == [True, True, True, False]


async def test_put_if_absent_stores_once_and_answers_what_is_there(backend: Backend) -> None:
    key = unique("pia")
    assert await backend.kv.put_if_absent(key, "first", ttl=0.4) is None
    assert await backend.kv.put_if_absent(key, "second", ttl=0.4) == b"first"
    assert await backend.kv.get(key) == b"first"
    await asyncio.sleep(0.25)
    assert await backend.kv.put_if_absent(key, "x", ttl=0.4, refresh_ttl=True) == b"first"
    await asyncio.sleep(0.25)  # 0.5 s after it was stored, but its TTL started over at 0.25
    assert await backend.kv.get(key) == b"first"
    await asyncio.sleep(0.3)
    assert await backend.kv.put_if_absent(key, "third", ttl=5) is None
    with pytest.raises(ValueError):
        await backend.kv.put_if_absent(key, "bad", ttl=0)


async def test_combined_windows_are_hit_together_or_not_at_all(backend: Backend) -> None:
    narrow, wide = unique("rl-narrow"), unique("rl-wide")
    both = (RateWindow(narrow, 2, 5.0), RateWindow(wide, 3, 5.0))
    first = await backend.kv.hit_rate_limits(*both)
    assert (first.allowed, first.remaining, first.refused_by) == (True, 1, "")
    assert (await backend.kv.hit_rate_limits(*both)).remaining == 0
    refused = await backend.kv.hit_rate_limits(*both)
    assert (refused.allowed, refused.refused_by) == (False, narrow)
    assert 0 < refused.retry_after <= 5.0
    # The refused hit landed in neither window: the wide one still has exactly one slot.
    assert (await backend.kv.hit_rate_limit(wide, limit=3, window=5.0)).remaining == 0
    other = await backend.kv.hit_rate_limits(RateWindow(unique("rl-free"), 9, 5.0), both[1])
    assert (other.allowed, other.refused_by) == (False, wide)


async def test_a_live_hold_refuses_the_hit_before_any_window(backend: Backend) -> None:
    window, hold, absent = RateWindow(unique("rl-held"), 5, 5.0), unique("hold"), unique("hold")
    await backend.kv.set(hold, "1", ttl=0.5)
    refused = await backend.kv.hit_rate_limits(window, holds=[absent, hold])
    assert (refused.allowed, refused.refused_by) == (False, hold)
    assert 0 < refused.retry_after <= 0.5
    # The held hit landed in no window: all five slots are still there.
    assert (await backend.kv.hit_rate_limits(window, holds=[absent])).remaining == 4
    await asyncio.sleep(0.6)  # the hold expired
    allowed = await backend.kv.hit_rate_limits(window, holds=[hold])
    assert (allowed.allowed, allowed.remaining) == (True, 3)


async def test_rate_limit_window_slides(backend: Backend) -> None:
    key = unique("rl")
    assert (await backend.kv.hit_rate_limit(key, limit=2, window=0.6)).allowed
    await asyncio.sleep(0.3)
    assert (await backend.kv.hit_rate_limit(key, limit=2, window=0.6)).allowed
    refused = await backend.kv.hit_rate_limit(key, limit=2, window=0.6)
    assert not refused.allowed
    assert refused.retry_after <= 0.35  # only until the first hit leaves, not a whole window
    await asyncio.sleep(0.4)  # first hit left the window, second is still in it
    assert (await backend.kv.hit_rate_limit(key, limit=2, window=0.6)).allowed
    assert not (await backend.kv.hit_rate_limit(key, limit=2, window=0.6)).allowed


async def test_rate_limit_keys_are_independent(backend: Backend) -> None:
    first, second = unique("rl"), unique("rl")
    assert (await backend.kv.hit_rate_limit(first, limit=1, window=5)).allowed
    assert not (await backend.kv.hit_rate_limit(first, limit=1, window=5)).allowed
    assert (await backend.kv.hit_rate_limit(second, limit=1, window=5)).allowed


# --------------------------------------------------------------------------- work queues


async def test_put_take_ack(backend: Backend) -> None:
    queue = unique("q")
    ids = await backend.queues.put(queue, [b"job"], max_length=10)
    assert len(ids) == 1
    got = await backend.queues.take(queue, "workers", "c1", block=0.5)
    assert [(d.id, d.payload, d.attempts) for d in got] == [(ids[0], b"job", 1)]
    await backend.queues.ack(queue, "workers", got[0].id)
    assert await backend.queues.depth(queue) == 0
    assert await backend.queues.take(queue, "workers", "c1", block=0.1) == []


async def test_fifo_order_and_count(backend: Backend) -> None:
    queue = unique("q")
    payloads = [f"item-{i}".encode() for i in range(5)]
    ids = await backend.queues.put(queue, payloads[:3], max_length=10)
    ids += await backend.queues.put(queue, payloads[3:], max_length=10)
    assert len(set(ids)) == 5
    first = await backend.queues.take(queue, "g", "c1", count=2, block=0.5)
    rest = await backend.queues.take(queue, "g", "c1", count=10, block=0.5)
    assert [d.payload for d in first + rest] == payloads
    assert [d.id for d in first + rest] == ids


async def test_put_is_all_or_nothing(backend: Backend) -> None:
    queue = unique("q")
    await backend.queues.put(queue, [b"a", b"b", b"c"], max_length=5)
    with pytest.raises(QueueFull):
        await backend.queues.put(queue, [b"d", b"e", b"f"], max_length=5)
    assert await backend.queues.depth(queue) == 3
    await backend.queues.put(queue, [b"d", b"e"], max_length=5)
    assert await backend.queues.depth(queue) == 5
    with pytest.raises(QueueFull):
        await backend.queues.put(queue, [b"x"], max_length=5)
    got = await backend.queues.take(queue, "g", "c", count=10, block=0.5)
    assert [d.payload for d in got] == [b"a", b"b", b"c", b"d", b"e"]


async def test_in_flight_items_count_against_max_length(backend: Backend) -> None:
    queue = unique("q")
    await backend.queues.put(queue, [b"a", b"b"], max_length=2)
    got = await backend.queues.take(queue, "g", "c", count=2, block=0.5)
    with pytest.raises(QueueFull):
        await backend.queues.put(queue, [b"c"], max_length=2)
    await backend.queues.ack(queue, "g", got[0].id)
    await backend.queues.put(queue, [b"c"], max_length=2)


async def test_unacked_item_is_redelivered_after_visibility_timeout(backend: Backend) -> None:
    queue = unique("q")
    await backend.queues.put(queue, [b"slow", b"fast"], max_length=10)
    first = await backend.queues.take(queue, "g", "c1", count=2, visibility_timeout=0.3)
    assert [d.payload for d in first] == [b"slow", b"fast"]
    await backend.queues.ack(queue, "g", first[1].id)

    assert await backend.queues.take(queue, "g", "c2", block=0.05, visibility_timeout=0.3) == []
    await asyncio.sleep(0.4)
    again = await backend.queues.take(queue, "g", "c2", block=0.5, visibility_timeout=0.3)
    assert [(d.id, d.payload, d.attempts) for d in again] == [(first[0].id, b"slow", 2)]

    await backend.queues.ack(queue, "g", again[0].id)
    await asyncio.sleep(0.4)
    assert await backend.queues.take(queue, "g", "c3", block=0.1, visibility_timeout=0.3) == []
    assert await backend.queues.depth(queue) == 0


async def test_blocked_take_picks_up_item_when_visibility_expires(backend: Backend) -> None:
    queue = unique("q")
    await backend.queues.put(queue, [b"job"], max_length=10)
    [first] = await backend.queues.take(queue, "g", "c1", visibility_timeout=0.3)
    started = time.monotonic()
    got = await backend.queues.take(queue, "g", "c2", block=3, visibility_timeout=0.3)
    assert [(d.id, d.attempts) for d in got] == [(first.id, 2)]
    assert time.monotonic() - started < 2


async def test_acked_item_is_never_redelivered(backend: Backend) -> None:
    queue = unique("q")
    await backend.queues.put(queue, [b"job"], max_length=10)
    [delivery] = await backend.queues.take(queue, "g", "c1", visibility_timeout=0.2)
    await backend.queues.ack(queue, "g", delivery.id)
    await asyncio.sleep(0.3)
    assert await backend.queues.take(queue, "g", "c2", block=0.3, visibility_timeout=0.2) == []


async def test_finish_marks_then_acks_in_one_step(backend: Backend) -> None:
    queue, mark = unique("q"), unique("done")
    await backend.queues.put(queue, [b"job", b"next"], max_length=10)
    [delivery] = await backend.queues.take(queue, "g", "c1", visibility_timeout=0.2)
    await backend.finish(queue, "g", delivery.id, mark=mark, value="done:ok", ttl=0.5)
    assert await backend.kv.get(mark) == b"done:ok"
    assert 0 < (await backend.kv.ttl(mark) or 0) <= 0.5
    assert await backend.queues.depth(queue) == 1  # only "next" is left
    await asyncio.sleep(0.3)
    [other] = await backend.queues.take(queue, "g", "c2", block=0.3, visibility_timeout=0.2)
    assert other.payload == b"next"  # the finished item is never redelivered
    # An id that is no item still sets the mark (the caller's verdict is kept either way).
    await backend.finish(queue, "g", "not-an-id", mark=mark, value="done:failed", ttl=5)
    assert await backend.kv.get(mark) == b"done:failed"
    with pytest.raises(ValueError):
        await backend.finish(queue, "g", other.id, mark=mark, value="x", ttl=0)


async def test_take_blocks_then_returns_empty(backend: Backend) -> None:
    queue = unique("q")
    started = time.monotonic()
    assert await backend.queues.take(queue, "g", "c", block=0.3) == []
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 2


async def test_take_without_block_returns_at_once(backend: Backend) -> None:
    queue = unique("q")
    started = time.monotonic()
    assert await backend.queues.take(queue, "g", "c", block=0) == []
    assert time.monotonic() - started < 0.5


async def test_blocked_take_wakes_up_on_put(backend: Backend) -> None:
    queue = unique("q")
    await backend.queues.take(queue, "g", "warmup", block=0)  # the group exists before the put
    started = time.monotonic()
    waiter = asyncio.create_task(backend.queues.take(queue, "g", "c", block=2))
    await asyncio.sleep(0.1)
    await backend.queues.put(queue, [b"wake"], max_length=10)
    got = await asyncio.wait_for(waiter, timeout=5)
    assert [d.payload for d in got] == [b"wake"]
    assert time.monotonic() - started < 1.5


async def test_group_created_late_sees_earlier_items(backend: Backend) -> None:
    queue = unique("q")
    await backend.queues.put(queue, [b"early"], max_length=10)
    got = await backend.queues.take(queue, "g", "c", block=0.5)
    assert [d.payload for d in got] == [b"early"]


async def test_depth_counts_waiting_and_in_flight(backend: Backend) -> None:
    queue = unique("q")
    assert await backend.queues.depth(queue) == 0
    await backend.queues.put(queue, [b"a", b"b", b"c"], max_length=10)
    assert await backend.queues.depth(queue) == 3
    got = await backend.queues.take(queue, "g", "c", count=2, block=0.5)
    assert await backend.queues.depth(queue) == 3
    await backend.queues.ack(queue, "g", *(d.id for d in got))
    assert await backend.queues.depth(queue) == 1


async def test_oldest_age_follows_the_oldest_unacknowledged_item(backend: Backend) -> None:
    queue = unique("q")
    assert await backend.queues.oldest_age(queue) == 0.0
    await backend.queues.put(queue, [b"old"], max_length=10)
    await asyncio.sleep(0.3)
    await backend.queues.put(queue, [b"new"], max_length=10)
    [first] = await backend.queues.take(queue, "g", "c", block=0.5)
    assert 0.25 <= await backend.queues.oldest_age(queue) < 5  # in flight still counts
    await backend.queues.ack(queue, "g", first.id)
    assert await backend.queues.oldest_age(queue) < 0.25  # now the newer item is the oldest
    [second] = await backend.queues.take(queue, "g", "c", block=0.5)
    await backend.queues.ack(queue, "g", second.id)
    assert await backend.queues.oldest_age(queue) == 0.0


async def test_ack_is_idempotent_and_ignores_unknown_ids(backend: Backend) -> None:
    queue = unique("q")
    await backend.queues.put(queue, [b"a"], max_length=10)
    [delivery] = await backend.queues.take(queue, "g", "c", block=0.5)
    await backend.queues.ack(queue, "g", delivery.id)
    await backend.queues.ack(queue, "g", delivery.id, "not-an-id")
    assert await backend.queues.depth(queue) == 0


async def test_concurrent_consumers_share_the_work(backend: Backend) -> None:
    queue = unique("q")
    payloads = [f"job-{i}".encode() for i in range(20)]
    await backend.queues.put(queue, payloads, max_length=100)

    async def drain(consumer: str) -> list[bytes]:
        seen: list[bytes] = []
        while batch := await backend.queues.take(queue, "g", consumer, count=3, block=0.2):
            seen += [d.payload for d in batch]
            await backend.queues.ack(queue, "g", *(d.id for d in batch))
        return seen

    results = await asyncio.gather(drain("c1"), drain("c2"), drain("c3"))
    everything = [p for seen in results for p in seen]
    assert sorted(everything) == sorted(payloads)  # each job handed out exactly once
    assert await backend.queues.depth(queue) == 0


async def test_extend_keeps_a_slow_delivery_from_being_handed_out_again(backend: Backend) -> None:
    queue = unique("q")
    await backend.queues.put(queue, [b"paced"], max_length=10)
    [held] = await backend.queues.take(queue, "g", "c1", visibility_timeout=0.3)
    for _ in range(4):  # 0.6 s in all, twice the visibility timeout
        await asyncio.sleep(0.15)
        await backend.queues.extend(queue, "g", "c1", held.id)
        assert await backend.queues.take(queue, "g", "c2", block=0, visibility_timeout=0.3) == []
    await backend.queues.extend(queue, "g", "someone-else", held.id)  # not theirs: ignored
    await backend.queues.extend(queue, "g", "c1", "not-an-id", "99999-0")
    await asyncio.sleep(0.4)  # no more renewals: the lease runs out as usual
    again = await backend.queues.take(queue, "g", "c2", block=1, visibility_timeout=0.3)
    assert [(d.id, d.attempts) for d in again] == [(held.id, 2)]  # renewals counted nothing


async def test_release_hands_items_back_first_without_counting_an_attempt(
    backend: Backend,
) -> None:
    queue = unique("q")
    ids = await backend.queues.put(queue, [b"a", b"b", b"c", b"d"], max_length=10)
    held = await backend.queues.take(queue, "g", "c1", count=3, visibility_timeout=30)
    await backend.queues.ack(queue, "g", held[0].id)
    await backend.queues.release(queue, "g", "someone-else", held[1].id)  # not theirs
    assert await backend.queues.take(queue, "g", "c2", count=1, block=0) == [
        Delivery(ids[3], b"d", 1)
    ]
    await backend.queues.release(queue, "g", "c1", held[2].id, held[1].id, "not-an-id")
    got = await backend.queues.take(queue, "g", "c2", count=5, block=1, visibility_timeout=30)
    assert [(d.payload, d.attempts) for d in got] == [(b"b", 1), (b"c", 1)]
    await backend.queues.release(queue, "g", "c2", got[0].id)
    [again] = await backend.queues.take(queue, "g", "c3", block=1, visibility_timeout=30)
    assert (again.payload, again.attempts) == (b"b", 1)
    await backend.queues.release(queue + "-missing", "g", "c1", ids[0])  # no such queue: no-op


# --------------------------------------------------------------------------- pub/sub


async def test_subscriber_gets_messages_published_after_subscribe(backend: Backend) -> None:
    channel = unique("ch")
    async with backend.pubsub.subscribe(channel) as subscription:
        await backend.pubsub.publish(channel, b"hello")
        await backend.pubsub.publish(channel, "text")
        assert await subscription.get(timeout=2) == (channel, b"hello")
        assert await subscription.get(timeout=2) == (channel, b"text")
        assert await subscription.get(timeout=0.1) is None


async def test_subscribe_to_multiple_channels(backend: Backend) -> None:
    first, second, other = unique("ch"), unique("ch"), unique("ch")
    async with backend.pubsub.subscribe(first, second) as subscription:
        await backend.pubsub.publish(other, b"not for us")
        await backend.pubsub.publish(first, b"1")
        await backend.pubsub.publish(second, b"2")
        received = [await subscription.get(timeout=2) for _ in range(2)]
        assert received == [(first, b"1"), (second, b"2")]
        assert await subscription.get(timeout=0.1) is None


async def test_every_subscriber_gets_each_message(backend: Backend) -> None:
    channel = unique("ch")
    async with (
        backend.pubsub.subscribe(channel) as one,
        backend.pubsub.subscribe(channel) as two,
    ):
        await backend.pubsub.publish(channel, b"fan-out")
        assert await one.get(timeout=2) == (channel, b"fan-out")
        assert await two.get(timeout=2) == (channel, b"fan-out")


async def test_no_messages_after_close(backend: Backend) -> None:
    channel = unique("ch")
    async with (
        backend.pubsub.subscribe(channel) as closed,
        backend.pubsub.subscribe(channel) as still_open,
    ):
        await closed.close()
        await backend.pubsub.publish(channel, b"after")
        assert await still_open.get(timeout=2) == (channel, b"after")
        assert await closed.get(timeout=0.2) is None


async def test_subscription_async_iteration(backend: Backend) -> None:
    channel = unique("ch")
    async with backend.pubsub.subscribe(channel) as subscription:
        for i in range(3):
            await backend.pubsub.publish(channel, f"m{i}")
        received: list[tuple[str, bytes]] = []

        async def collect() -> None:
            async for message in subscription:
                received.append(message)
                if len(received) == 3:
                    return

        await asyncio.wait_for(collect(), timeout=5)
    assert received == [(channel, b"m0"), (channel, b"m1"), (channel, b"m2")]


async def test_close_ends_iteration_in_another_task(backend: Backend) -> None:
    channel = unique("ch")
    async with backend.pubsub.subscribe(channel) as subscription:
        received: list[tuple[str, bytes]] = []

        async def collect() -> None:
            async for message in subscription:
                received.append(message)

        reader = asyncio.create_task(collect())
        await backend.pubsub.publish(channel, b"only")
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.02)
        await subscription.close()
        await asyncio.wait_for(reader, timeout=3)
    assert received == [(channel, b"only")]


async def test_messages_before_subscribe_are_not_delivered(backend: Backend) -> None:
    channel = unique("ch")
    await backend.pubsub.publish(channel, b"too early")
    async with backend.pubsub.subscribe(channel) as subscription:
        assert await subscription.get(timeout=0.2) is None


async def test_publish_says_whether_anyone_heard(backend: Backend) -> None:
    """What the playground's sender decides by: a reply nobody waits for goes to history."""
    channel = unique("ch")
    assert await backend.pubsub.publish(channel, b"nobody") == 0
    async with backend.pubsub.subscribe(channel):
        assert await backend.pubsub.publish(channel, b"someone") >= 1
    assert await backend.pubsub.publish(channel, b"gone again") == 0


# --------------------------------------------------------------------------- lifecycle


async def test_ping(backend: Backend) -> None:
    assert await backend.ping() is True


async def test_close_wakes_blocked_take(backend: Backend) -> None:
    queue = unique("q")
    waiter = asyncio.create_task(backend.queues.take(queue, "g", "c", block=10))
    await asyncio.sleep(0.2)
    await backend.close()  # the fixture closes again: close must be idempotent
    assert await asyncio.wait_for(waiter, timeout=3) == []
