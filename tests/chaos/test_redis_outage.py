"""Redis SIGKILLed and restarted in the middle of a burst, under a real ``waddlebot up``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.chaos.burst import (
    SECRET,
    Ledger,
    chaos_env,
    ping_events,
    send,
    wait_all_answered,
    wait_readyz,
)
from tests.chaos.servers import OwnRedis, WaddleBot
from waddlebot.kernel.security.service_tokens import service_headers

EVENTS = 400
# At-least-once: an event whose reply was queued but whose done marker was not yet written
# when Redis died is answered again. At most the events in flight: one per router worker.
DUPLICATES_AT_MOST = 8


async def until(condition: object, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def test_redis_killed_mid_burst_loses_nothing_and_recovers_without_restart(
    own_redis: OwnRedis, tmp_path: Path
) -> None:
    env = chaos_env(tmp_path, WADDLEBOT_REDIS_URL=own_redis.url)  # SQLite in the data dir
    namespace = env["WADDLEBOT_REDIS_NAMESPACE"]
    bot = WaddleBot(["up"], env, tmp_path)
    try:
        bot.wait_ready()
        async with asyncio.timeout(150):
            events = ping_events(EVENTS)
            ledger = Ledger()
            sending = asyncio.create_task(send(bot.url, events, ledger, batch=10, pause=0.02))
            await until(lambda: len(ledger.accepted) >= EVENTS // 4, 60)

            own_redis.kill()
            down = await wait_readyz(bot.url, 503, 20)
            assert down["checks"]["cache"] is False
            await until(lambda: ledger.statuses[503] >= 3, 20)  # ingress refuses, not 500
            playground = await asyncio.to_thread(
                httpx.post,
                f"{bot.url}/api/playground/v1/messages",
                json={"text": "!ping"},
                headers=service_headers(SECRET, "test"),
                timeout=30,
            )
            assert playground.status_code == 503, playground.text
            assert "Retry-After" in playground.headers

            own_redis.start()  # same port, same AOF: the streams come back
            await sending
            counts = await wait_all_answered(own_redis.url, namespace, ledger.accepted, 90)
            await wait_readyz(bot.url, 200, 30)

            # The playground answers again: its sender and reply listener came back by themselves.
            async with httpx.AsyncClient(base_url=bot.url, timeout=30) as client:
                answer = await client.post(
                    "/api/playground/v1/messages",
                    json={"text": "!ping"},
                    headers=service_headers(SECRET, "test"),
                )
            assert answer.status_code == 200, answer.text
            assert [reply["text"] for reply in answer.json()["replies"]] == ["pong"]

        assert ledger.accepted == {event["id"] for event in events}
        assert ledger.statuses[500] == 0, ledger.failures
        assert not ledger.failures
        assert ledger.unavailable_without_retry_after == 0
        duplicates = sum(count - 1 for count in counts.values())
        assert duplicates <= DUPLICATES_AT_MOST, f"{duplicates} duplicate replies"
        assert bot.process.poll() is None  # never restarted
        log = bot.log()
        assert "background_task_lost" in log
        assert "background_task_recovered" in log
        assert "background_task_crashed" not in log
        # One "lost" line per task and outage, not one per attempt.
        assert log.count('"background_task_lost"') <= 8, log.count('"background_task_lost"')
    finally:
        bot.stop()


async def test_a_subscription_survives_a_redis_restart(own_redis: OwnRedis) -> None:
    """The shared pub/sub connection comes back by itself and re-subscribes every channel."""
    from waddlebot.kernel.backends.redis import RedisBackend

    listener = RedisBackend.from_url(own_redis.url, namespace="chaos")
    publisher = RedisBackend.from_url(own_redis.url, namespace="chaos")
    try:
        async with asyncio.timeout(60), listener.pubsub.subscribe("news") as subscription:
            await publisher.pubsub.publish("news", "before")
            assert await subscription.get(timeout=10) == ("news", b"before")
            opened = listener.pubsub.connections_opened

            await asyncio.to_thread(own_redis.kill)
            await asyncio.to_thread(own_redis.start)
            await until(lambda: listener.pubsub.connections_opened > opened, 30)
            while True:  # published before the re-subscription lands is lost: publish again
                await publisher.pubsub.publish("news", "after")
                received = await subscription.get(timeout=0.5)
                if received is not None:
                    break
            assert received == ("news", b"after")
    finally:
        await listener.close()
        await publisher.close()
