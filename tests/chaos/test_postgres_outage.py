"""PostgreSQL stopped and started in the middle of a burst, under a real ``waddlebot up``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.chaos.burst import Ledger, chaos_env, ping_events, send, wait_all_answered, wait_readyz
from tests.chaos.servers import OwnPostgres, OwnRedis, WaddleBot

EVENTS = 300
DUPLICATES_AT_MOST = 8  # see test_redis_outage: at most one per router worker


async def until(condition: object, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


STUCK_TASKS = ("router:workers", "router:execution-log")


async def test_postgres_stopped_mid_burst_loses_nothing_and_recovers_without_restart(
    own_postgres: OwnPostgres, own_redis: OwnRedis, tmp_path: Path
) -> None:
    env = chaos_env(
        tmp_path, WADDLEBOT_DATABASE_URL=own_postgres.url, WADDLEBOT_REDIS_URL=own_redis.url
    )
    namespace = env["WADDLEBOT_REDIS_NAMESPACE"]
    bot = WaddleBot(["up"], env, tmp_path)
    try:
        bot.wait_ready()
        async with asyncio.timeout(150):
            # Every event comes from a new chatter: routing it writes a user to the database.
            events = ping_events(EVENTS, new_users=True)
            ledger = Ledger()
            sending = asyncio.create_task(send(bot.url, events, ledger, batch=10, pause=0.05))
            await until(lambda: len(ledger.accepted) >= EVENTS // 4, 60)

            await asyncio.to_thread(own_postgres.stop)
            down = await wait_readyz(bot.url, 503, 20)
            assert down["checks"]["database"] is False
            accepted_while_down = len(ledger.accepted)
            # Redis is up, so ingress still queues durably (202) while the database is away.
            await until(lambda: len(ledger.accepted) >= accepted_while_down + 30, 30)
            # The workers (routing events) or the execution-log writer (their rows, written
            # before each ack) meet the outage: /readyz names what is stuck.
            stuck = await wait_readyz(bot.url, 503, 20)
            assert set(stuck.get("failing", {})) & set(STUCK_TASKS), stuck

            await asyncio.to_thread(own_postgres.start)
            await sending
            counts = await wait_all_answered(own_redis.url, namespace, ledger.accepted, 90)
            await wait_readyz(bot.url, 200, 30)

        assert ledger.accepted == {event["id"] for event in events}
        assert ledger.statuses[500] == 0, ledger.failures
        assert not ledger.failures
        duplicates = sum(count - 1 for count in counts.values())
        assert duplicates <= DUPLICATES_AT_MOST, f"{duplicates} duplicate replies"
        assert bot.process.poll() is None  # never restarted
        log = bot.log()
        lost = [
            json.loads(line)
            for line in log.splitlines()
            if line.startswith("{") and '"background_task_lost"' in line
        ]
        # The workers met the outage routing events (they put them back), or the execution-log
        # writer writing rows; nothing else, and always as the database.
        met = {(line["task"], line["dependency"]) for line in lost}
        assert met and met <= {(task, "database") for task in STUCK_TASKS}, met
        assert "background_task_recovered" in log
        assert "event_abandoned" not in log  # the outage counted no attempt
        assert "background_task_crashed" not in log
    finally:
        bot.stop()
