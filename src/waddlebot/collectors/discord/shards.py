"""Discord gateway shards shared out between ``waddlebot serve discord-gateway`` processes.

Every worker reads ``GET /gateway/bot`` once at start: the recommended shard count (unless
``WADDLEBOT_DISCORD_SHARD_COUNT`` sets one) and ``session_start_limit.max_concurrency``. The
workers must agree on the count — shard 0 of 4 and shard 0 of 5 see different guilds — so the
first live worker's count is published under :data:`COUNT_KEY` and every later worker adopts
it; each worker keeps the key alive, and a new count takes effect once every worker has
stopped for a lease TTL.

Shard ids are leased through the kernel's :class:`~waddlebot.kernel.coordination.Coordinator`
as ``discord:shard:<id>``: ``on_acquired`` starts the shard, ``on_lost`` closes it, so a shard
moves when its lease does (a worker stops, crashes or a newcomer takes its share).

**One py-cord ``Client(shard_id=i, shard_count=n)`` per held shard**, not one
``AutoShardedClient(shard_ids=…)``: ``AutoShardedClient`` launches its ``shard_ids`` once in
``connect()`` and has no public way to add a shard to a running client (``launch_shard``
writes a name-mangled private dict), and its event loop closes the *whole* client when any
one shard terminates. A client per shard starts and stops on its own, which is exactly what a
lease handover needs; the cost is a separate cache and HTTP session per shard, and neither
matters here: a guild lives on one shard, and the collector sends through its own
:class:`~.rest.DiscordRest`, not py-cord's HTTP client.

**Identify rate limit**: at most one IDENTIFY per bucket (``shard_id % max_concurrency``) per
5 seconds. Each client's ``before_identify_hook`` takes a slot of the backend's sliding
window ``discord:identify:<bucket>`` (limit 1 per 5 s), so the limit holds across every
worker sharing Redis (in one process with the memory backend). Resumes are not identifies and
wait for nothing. Right before identifying, the worker checks that the backend still has its
lease (:meth:`Coordinator.still_held`): a shard that moved while waiting is not identified.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from waddlebot.collectors.discord.config import DiscordSettings
from waddlebot.collectors.discord.rest import DiscordRest
from waddlebot.collectors.pacing import wait_for_slot
from waddlebot.kernel.backends import KeyValue
from waddlebot.kernel.coordination import Coordinator, Lease
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.outages import Backoff
from waddlebot.kernel.runtime import Runtime

logger = get_logger(__name__)

ITEM_PREFIX = "discord:shard:"
COUNT_KEY = "discord:shard-count"
IDENTIFY_WINDOW = 5.0  # seconds; one IDENTIFY per bucket per window (Discord's rule)
SHARD_BACKOFF = Backoff(initial=1.0, maximum=60.0)


@dataclass(frozen=True, slots=True)
class GatewayPlan:
    """What ``GET /gateway/bot`` says about this bot."""

    shards: int  # the recommended shard count
    max_concurrency: int  # identify buckets (session_start_limit.max_concurrency)
    remaining: int | None  # session starts left today (session_start_limit.remaining)


class ShardMoved(Exception):
    """The shard's lease was lost before it could identify."""


def shard_item(shard_id: int) -> str:
    return f"{ITEM_PREFIX}{shard_id}"


def shard_of(item: str) -> int:
    return int(item.removeprefix(ITEM_PREFIX))


async def read_plan(rest: DiscordRest) -> GatewayPlan:
    """The recommended shard count and identify concurrency (``GET /gateway/bot``)."""
    answer = await rest.request("GET", "/gateway/bot", route="gateway/bot")
    data = answer.json()
    limit = data.get("session_start_limit") or {}
    return GatewayPlan(
        shards=max(1, int(data["shards"])),
        max_concurrency=max(1, int(limit.get("max_concurrency") or 1)),
        remaining=int(limit["remaining"]) if "remaining" in limit else None,
    )


async def agree_count(kv: KeyValue, proposed: int, *, ttl: float) -> int:
    """The shard count every live worker uses: a running worker's, else ``proposed``."""
    while True:
        if await kv.set(COUNT_KEY, str(proposed), ttl=ttl, only_if_absent=True):
            return proposed
        current = await kv.get(COUNT_KEY)
        if current is not None:
            return int(current)


class IdentifyQueue:
    """Discord's identify rate limit, shared through the backend: one IDENTIFY per bucket
    (``shard_id % max_concurrency``) per :data:`IDENTIFY_WINDOW` seconds."""

    def __init__(self, kv: KeyValue, max_concurrency: int) -> None:
        self.kv = kv
        self.max_concurrency = max_concurrency

    def bucket(self, shard_id: int) -> int:
        return shard_id % self.max_concurrency

    async def wait(self, shard_id: int) -> None:
        """Take this shard's bucket slot, waiting as long as it takes (never fails)."""
        await wait_for_slot(
            self.kv,
            f"discord:identify:{self.bucket(shard_id)}",
            limit=1,
            window=IDENTIFY_WINDOW,
            max_wait=math.inf,
        )


IdentifyGate = Callable[[int | None], Awaitable[None]]
ClientFactory = Callable[[tuple[int, int], IdentifyGate], Any]


class GatewayShards:
    """This process's share of the bot's shards, one py-cord client per held shard.

    ``on_acquired``/``on_lost`` start and stop shards as leases move; besides, every
    heartbeat :meth:`reconcile` closes a shard whose lease this process can no longer vouch
    for (its local, conservative expiry passed — e.g. the backend is unreachable from here
    while other workers may already have taken it over) and restarts one whose lease is
    live again, so a cut-off worker goes quiet before its shards are identified elsewhere.
    """

    def __init__(self, runtime: Runtime, settings: DiscordSettings, build: ClientFactory) -> None:
        self.runtime = runtime
        self.settings = settings
        self._build = build  # (shard id, count), identify gate → an unstarted py-cord client
        self.clients: dict[int, Any] = {}  # shard id → its running py-cord client
        self._running: dict[int, tuple[int, asyncio.Task[None]]] = {}  # shard → token, task
        self.coordinator: Coordinator | None = None
        self.count: int | None = None
        self.identify: IdentifyQueue | None = None

    async def run(self) -> None:
        """Read the plan, start the coordinator, then each heartbeat reconcile the shards and
        keep the agreed count alive. Spawned supervised: a failure (Discord or the backend
        away) is retried with backoff; the coordinator is made only once."""
        kv = self.runtime.backend.kv
        ttl = self.runtime.settings.lease_ttl
        if self.coordinator is None:
            rest = DiscordRest(kv, self.settings)
            try:
                plan = await read_plan(rest)
            finally:
                await rest.close()
            count = await agree_count(kv, self.settings.shard_count or plan.shards, ttl=ttl)
            self.count = count
            self.identify = IdentifyQueue(kv, plan.max_concurrency)
            log_event(
                logger,
                Category.SYSTEM,
                "discord_shards",
                "planned",
                shards=count,
                recommended=plan.shards,
                max_concurrency=plan.max_concurrency,
                session_starts_left=plan.remaining,
            )
            self.coordinator = Coordinator.from_settings(
                self.runtime.settings,
                self.runtime.backend.leases,
                items=[shard_item(shard) for shard in range(count)],
                on_acquired=self._acquired,
                on_lost=self._lost,
            )
            self.coordinator.start()
        while True:
            await self.reconcile()
            await kv.set(COUNT_KEY, str(self.count), ttl=ttl)
            await asyncio.sleep(self._next_check())

    def _next_check(self) -> float:
        """Seconds to the next reconcile: a heartbeat, or sooner if a held lease would lapse
        by then (the coordinator renews them each beat; when it cannot, the shard is closed
        right at its local expiry, which comes before the backend lets another worker in)."""
        wait = self.runtime.settings.resolved_heartbeat_interval
        if self.coordinator is not None:
            now = time.time()
            for lease in self.coordinator.held.values():
                if lease.live(now):
                    wait = min(wait, lease.expires_at - now + 0.01)
        return max(wait, 0.01)

    async def reconcile(self) -> None:
        """Run exactly the shards whose lease is held here and live by the local clock."""
        if self.coordinator is None:
            return
        now = time.time()
        live = {
            shard_of(item): lease
            for item, lease in self.coordinator.held.items()
            if lease.live(now)
        }
        for shard, (token, task) in list(self._running.items()):
            lease = live.get(shard)
            if lease is None or lease.token != token or task.done():
                await self._close(shard)
                if lease is None:
                    log_event(
                        logger,
                        Category.SYSTEM,
                        "discord_shard",
                        "expired",
                        level="warning",
                        shard=shard_item(shard),
                    )
        for shard, lease in live.items():
            if shard not in self._running:
                self._start(shard, lease)

    async def stop(self) -> None:
        """Release every shard (each one closed by ``on_lost``) and leave the registry."""
        if self.coordinator is not None:
            await self.coordinator.stop()
        for shard in list(self._running):
            await self._close(shard)

    def _holds(self, lease: Lease) -> bool:
        """The lease is still ours (same token) and live by the local clock."""
        if self.coordinator is None:
            return False
        held = self.coordinator.held.get(lease.item)
        return held is not None and held.token == lease.token and held.live()

    def _start(self, shard: int, lease: Lease) -> None:
        task = asyncio.create_task(self._run_shard(shard, lease), name=f"discord-shard-{shard}")
        self._running[shard] = (lease.token, task)

    async def _acquired(self, lease: Lease) -> None:
        shard = shard_of(lease.item)
        await self._close(shard)  # a leftover of an earlier lease, if any
        self._start(shard, lease)

    async def _lost(self, lease: Lease) -> None:
        await self._close(shard_of(lease.item))
        log_event(
            logger, Category.SYSTEM, "discord_shard", "stopped", shard=lease.item, token=lease.token
        )

    async def _close(self, shard: int) -> None:
        running = self._running.pop(shard, None)
        client = self.clients.pop(shard, None)
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        if running is not None:
            running[1].cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running[1]

    async def _run_shard(self, shard: int, lease: Lease) -> None:
        """Run the shard's client while the lease is ours; a client that fails is rebuilt
        after a backoff (py-cord resumes and reconnects by itself; this catches what it gives
        up on, e.g. Discord refusing the session)."""
        assert self.count is not None and self.settings.bot_token is not None
        attempt = 0
        while self._holds(lease):
            client = self._build((shard, self.count), self._gate(lease))
            self.clients[shard] = client
            try:
                await client.start(self.settings.bot_token)
            except Exception as error:
                if not self._holds(lease):
                    return
                attempt += 1
                log_event(
                    logger,
                    Category.ERROR,
                    "discord_shard",
                    "failed",
                    level="warning",
                    shard=lease.item,
                    error=type(error).__name__,
                    reason=str(error)[:200],
                )
            else:
                attempt = 0  # closed on purpose, or py-cord gave up cleanly: start again
            finally:
                with contextlib.suppress(Exception):
                    await client.close()
                if self.clients.get(shard) is client:
                    del self.clients[shard]
            if self._holds(lease):
                await asyncio.sleep(SHARD_BACKOFF.delay(max(attempt, 1)))

    def _gate(self, lease: Lease) -> IdentifyGate:
        async def before_identify(shard_id: int | None) -> None:
            assert self.identify is not None and self.coordinator is not None
            await self.identify.wait(shard_of(lease.item))
            current = self.coordinator.held.get(lease.item)  # renewed since: a later expiry
            if (
                current is None
                or current.token != lease.token
                or not await self.coordinator.still_held(current)
            ):
                raise ShardMoved(lease.item)
            log_event(
                logger,
                Category.SYSTEM,
                "discord_shard",
                "identify",
                shard=lease.item,
                token=lease.token,
            )

        return before_identify
