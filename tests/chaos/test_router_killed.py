"""A router process SIGKILLed in the middle of a burst of events, in distributed mode.

Two ``waddlebot serve router`` processes share PostgreSQL and Redis; events arrive by HTTP at
the second one's ingress. The first is SIGKILLed while it works and started again on the same
port. Whatever it had taken but not acknowledged is redelivered after the visibility timeout.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis

from tests.chaos.burst import Ledger, chaos_env, ping_events, processed, send, wait_all_answered
from tests.chaos.servers import OwnRedis, WaddleBot
from tests.conftest import DATABASE_URL, fresh_postgres_database, require_service
from tests.support import free_port

# About 50 s on the shared 2-core machine; WADDLEBOT_CHAOS_EVENTS makes it smaller or larger.
EVENTS = int(os.environ.get("WADDLEBOT_CHAOS_EVENTS", "5000"))
# At-least-once: an event the killed router had answered (reply queued) but not yet marked
# done is answered again after redelivery. At most the events it had in flight: one per
# worker (WADDLEBOT_ROUTER_WORKERS, 8 here).
DUPLICATES_AT_MOST = 8


def pending(redis_url: str, namespace: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        summary = client.xpending(f"{namespace}:q:router:events", "router")
        return int(summary["pending"])
    finally:
        client.close()


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    server = require_service(DATABASE_URL, "PostgreSQL", "WADDLEBOT_TEST_DATABASE_URL")
    async with fresh_postgres_database(server) as url:
        yield url


async def test_a_router_killed_mid_burst_loses_nothing_and_answers_each_once(
    own_redis: OwnRedis, database_url: str, tmp_path: Path
) -> None:
    env = chaos_env(
        tmp_path,
        WADDLEBOT_DATABASE_URL=database_url,
        WADDLEBOT_REDIS_URL=own_redis.url,
        WADDLEBOT_ROUTER_WORKERS="8",
    )
    namespace = env["WADDLEBOT_REDIS_NAMESPACE"]
    victim_port, survivor_port = free_port(), free_port()

    def router(port: int) -> WaddleBot:
        return WaddleBot(
            ["serve", "router", "--port", str(port)],
            {**env, "WADDLEBOT_PORT": str(port)},
            tmp_path,
        )

    victim = router(victim_port)
    survivor: WaddleBot | None = None
    replacement: WaddleBot | None = None
    try:
        victim.wait_ready()
        survivor = router(survivor_port)
        survivor.wait_ready()
        events = ping_events(EVENTS)
        ids = {event["id"] for event in events}
        ledger = Ledger()
        async with asyncio.timeout(200):
            sending = asyncio.create_task(send(survivor.url, events, ledger, batch=100))
            while len(await asyncio.to_thread(processed, own_redis.url, namespace, ids)) < (
                EVENTS * 2 // 5
            ):
                await asyncio.sleep(0.05)
            victim.kill()
            killed_at = time.monotonic()
            in_flight = pending(own_redis.url, namespace)  # taken by either router, not acked
            replacement = router(victim_port)  # restarted by its supervisor, same port
            replacement.wait_ready()
            await sending
            counts = await wait_all_answered(own_redis.url, namespace, ledger.accepted, 150)
        assert ledger.accepted == ids
        assert ledger.statuses[500] == 0 and not ledger.failures, ledger.failures
        assert set(counts) == ids  # no reply for anything else
        duplicates = sum(count - 1 for count in counts.values())
        assert duplicates <= DUPLICATES_AT_MOST, f"{duplicates} duplicate replies"
        print(
            f"{EVENTS} events, {in_flight} in flight at the kill, {duplicates} duplicates, "
            f"{time.monotonic() - killed_at:.1f}s from kill to all answered"
        )
    finally:
        for process in (replacement, survivor, victim):
            if process is not None:
                process.stop()
