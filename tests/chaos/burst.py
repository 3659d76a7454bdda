"""Send bursts of ``!ping`` events by HTTP and count what became of each, from Redis itself.

Events go to the router's ingress as platform ``twitch`` with no Twitch collector configured,
so nothing drains ``outbound:twitch``: each reply stays in that stream, and counting its
entries per event id tells answered-once, duplicated and never-answered apart. The
``router:event:<id>`` markers (``done:…``) tell processed from lost.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis

from tests.cli.processes import clean_env
from waddlebot.kernel.security.service_tokens import service_headers

SECRET = "chaos-secret-of-this-installation"
INGRESS = "/api/router/v1/events"


def chaos_env(root: Any, **settings: str) -> dict[str, str]:
    """A clean environment for ``waddlebot`` with limits that a burst does not trip."""
    env = clean_env(root)
    env.update(
        WADDLEBOT_SECRET_KEY=SECRET,
        WADDLEBOT_LOG_LEVEL="INFO",
        WADDLEBOT_REDIS_NAMESPACE=f"chaos{uuid.uuid4().hex[:8]}",
        WADDLEBOT_RATE_LIMIT_USER="1000000",
        WADDLEBOT_RATE_LIMIT_ENTITY="1000000",
        WADDLEBOT_ROUTER_VISIBILITY_TIMEOUT="5",
        **settings,
    )
    return env


def ping_events(count: int, *, new_users: bool = False) -> list[dict[str, Any]]:
    """``count`` pings from 8 chatters, or (``new_users``) each from a chatter never seen
    before, so that routing it has to write to the database."""
    run = uuid.uuid4().hex[:8]
    return [
        {
            "id": f"chaos-{run}-{i}",
            "platform": "twitch",
            "server_id": "chaos",
            "channel_id": f"channel{i % 4}",
            "channel_name": f"channel{i % 4}",
            "user": {"id": chatter, "name": chatter},
            "text": "!ping",
        }
        for i in range(count)
        for chatter in [f"user{run}{i}" if new_users else f"user{i % 8}"]
    ]


@dataclass
class Ledger:
    """What the ingress answered, by status, and which events it accepted."""

    accepted: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    unavailable_without_retry_after: int = 0
    failures: list[str] = field(default_factory=list)


async def send(
    url: str,
    events: list[dict[str, Any]],
    ledger: Ledger,
    *,
    batch: int = 20,
    seconds: float = 90,
    pause: float = 0.0,
) -> None:
    """Post ``events`` in batches until each batch is accepted (503 and 429 are retried)."""
    deadline = time.monotonic() + seconds
    headers = service_headers(SECRET, "chaos")
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=15) as client:
        for start in range(0, len(events), batch):
            chunk = events[start : start + batch]
            while True:
                assert time.monotonic() < deadline, f"ingress never took events {start}+"
                try:
                    answer = await client.post(INGRESS, json=chunk)
                except httpx.TransportError as error:
                    ledger.failures.append(repr(error))
                    await asyncio.sleep(0.2)
                    continue
                ledger.statuses[answer.status_code] += 1
                if answer.status_code == 202:
                    ledger.accepted.update(answer.json()["accepted"])
                    break
                if answer.status_code == 503:
                    if "Retry-After" not in answer.headers:
                        ledger.unavailable_without_retry_after += 1
                elif answer.status_code != 429:
                    ledger.failures.append(f"{answer.status_code}: {answer.text[:300]}")
                await asyncio.sleep(0.2)  # shorter than Retry-After: the test is bounded
            if pause:
                await asyncio.sleep(pause)


def replies_per_event(redis_url: str, namespace: str) -> Counter[str]:
    """Replies queued on ``outbound:twitch``, counted per event id."""
    client = redis.Redis.from_url(redis_url)
    try:
        counts: Counter[str] = Counter()
        stream = f"{namespace}:q:outbound:twitch"
        last = "-"
        while True:
            entries = client.xrange(stream, min=last, max="+", count=2000)
            if last != "-":
                entries = entries[1:]
            if not entries:
                return counts
            for _entry_id, fields in entries:
                counts[json.loads(fields[b"p"])["event_id"]] += 1
            last = entries[-1][0].decode()
    finally:
        client.close()


def processed(redis_url: str, namespace: str, ids: set[str]) -> set[str]:
    """The ids whose done marker the router has written."""
    client = redis.Redis.from_url(redis_url)
    try:
        ordered = sorted(ids)
        done: set[str] = set()
        for start in range(0, len(ordered), 1000):
            part = ordered[start : start + 1000]
            values = client.mget([f"{namespace}:kv:router:event:{i}" for i in part])
            done.update(
                i for i, value in zip(part, values, strict=True) if value and value[:5] == b"done:"
            )
        return done
    finally:
        client.close()


async def wait_all_answered(
    redis_url: str, namespace: str, ids: set[str], seconds: float
) -> Counter[str]:
    """Poll until every id has a done marker and a reply; return the reply counts."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            counts = replies_per_event(redis_url, namespace)
            done = processed(redis_url, namespace, ids)
        except redis.ConnectionError:
            counts, done = Counter(), set()
        if ids <= done and all(counts[i] >= 1 for i in ids):
            return counts
        if time.monotonic() > deadline:
            missing = ids - done
            unanswered = [i for i in ids if counts[i] == 0]
            raise AssertionError(
                f"{len(missing)} of {len(ids)} accepted events never processed, "
                f"{len(unanswered)} never answered (e.g. {sorted(missing or unanswered)[:3]})"
            )
        await asyncio.sleep(0.5)


def readyz(url: str) -> tuple[int, dict[str, Any]]:
    try:
        answer = httpx.get(f"{url}/readyz", timeout=10)
    except httpx.TransportError:
        return 0, {}
    return answer.status_code, answer.json()


async def wait_readyz(url: str, status: int, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        code, body = await asyncio.to_thread(readyz, url)
        if code == status:
            return body
        assert time.monotonic() < deadline, f"/readyz never answered {status}: {code} {body}"
        await asyncio.sleep(0.1)
