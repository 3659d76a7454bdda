"""EventSub without a public URL: the WebSocket transport and conduits, shared out by leases.

**WebSocket** (``WADDLEBOT_TWITCH_TRANSPORT=websocket``): one session for the installation.
Its subscriptions are tied to the session and the bot's user token, and Twitch caps them (300
per connection, 3 connections per user), so one instance holds the session — the holder of
the coordinator item ``twitch:eventsub-websocket`` — and subscribes every connected channel on
each fresh welcome (a reconnect keeps them). Other instances publish on
``twitch:channels-changed`` when a channel is connected there; the holder reconciles.

**Conduit** (``WADDLEBOT_TWITCH_TRANSPORT=conduit``): one conduit for the application with
``WADDLEBOT_TWITCH_CONDUIT_SHARDS`` shards; the items ``twitch:conduit-shard:<n>`` are shared
over the instances; each held shard gets its own session and is pointed at it with
``PATCH /eventsub/conduits/shards`` after every welcome — fenced: only while the lease is still
held. Subscriptions are made once, on the conduit, with the app token, by any instance.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from waddlebot.collectors.twitch.auth import HelixError, TwitchNotConfigured
from waddlebot.collectors.twitch.components import Twitch
from waddlebot.collectors.twitch.eventsub_ws import ConnectionBudget, EventSubSocket
from waddlebot.collectors.twitch.subscriptions import Transport
from waddlebot.kernel.backends import Backend
from waddlebot.kernel.coordination.coordinator import Coordinator, Lease
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH
from waddlebot.kernel.runtime import Runtime

logger = get_logger(__name__)
WEBSOCKET_ITEM = "twitch:eventsub-websocket"
SHARD_PREFIX = "twitch:conduit-shard:"
CHANNELS_CHANGED = "twitch:channels-changed"
CONDUIT_LOCK = "twitch:conduit-lock"
RECONCILE_LOCK = "twitch:reconcile-lock"


class _Sessions:
    """Session tasks by coordinator item: started on acquire, cancelled on loss."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.sockets: dict[str, EventSubSocket] = {}

    def start(self, item: str, socket: EventSubSocket) -> None:
        self.sockets[item] = socket
        self.tasks[item] = asyncio.create_task(socket.run(), name=f"eventsub-{item}")

    async def stop(self, item: str) -> None:
        task = self.tasks.pop(item, None)
        self.sockets.pop(item, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stop_all(self) -> None:
        for item in list(self.tasks):
            await self.stop(item)


async def _coordinate(coordinator: Coordinator, sessions: _Sessions) -> None:
    try:
        await coordinator.run()
    finally:
        try:
            await coordinator.stop()  # releases every lease: on_lost closes the sessions
        finally:
            await sessions.stop_all()


class WebSocketTransport:
    """The installation's one EventSub WebSocket session, on whichever instance holds it."""

    def __init__(self, twitch: Twitch, runtime: Runtime) -> None:
        self.twitch = twitch
        self.runtime = runtime
        self.budget = ConnectionBudget(twitch.settings.websocket_max_connections)
        self.sessions = _Sessions()
        self.coordinator = Coordinator.from_settings(
            runtime.settings,
            runtime.backend.leases,
            items=[WEBSOCKET_ITEM],
            on_acquired=self._acquired,
            on_lost=self._lost,
        )
        twitch.subscriptions.announce = self._announce

    async def run(self) -> None:
        """Coordinate, and reconcile when another instance connects a channel."""
        listener = asyncio.create_task(self._listen(), name="twitch-channels-changed")
        try:
            await _coordinate(self.coordinator, self.sessions)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    @property
    def socket(self) -> EventSubSocket | None:
        return self.sessions.sockets.get(WEBSOCKET_ITEM)

    async def _acquired(self, lease: Lease) -> None:
        # A session without a known bot id still works: only the connection budget uses it.
        try:
            bot_id = await self.twitch.auth.bot_user_id() or "unknown"
        except Exception:
            bot_id = "unknown"
        socket = EventSubSocket(
            self.twitch,
            self.runtime,
            name="websocket",
            on_welcome=self._welcome,
            budget=self.budget,
            user=bot_id,
        )
        self.sessions.start(WEBSOCKET_ITEM, socket)

    async def _lost(self, lease: Lease) -> None:
        self.twitch.subscriptions.current = None
        await self.sessions.stop(WEBSOCKET_ITEM)
        PLATFORM_HEALTH.connection("twitch", False, "eventsub websocket", "held elsewhere")

    async def _welcome(self, session_id: str, reconnected: bool) -> None:
        subscriptions = self.twitch.subscriptions
        subscriptions.current = Transport.websocket(
            session_id, cap=self.twitch.settings.websocket_max_subscriptions
        )
        if not reconnected:  # a fresh session has no subscriptions yet: make them now
            try:
                await subscriptions.reconcile()
            except TwitchNotConfigured as error:
                # The bot has not authorised yet: keep the session; connecting a channel
                # subscribes it (and Twitch closes an empty session, so a fresh one retries).
                log_event(
                    logger,
                    Category.SYSTEM,
                    "twitch_websocket",
                    "not_subscribed",
                    level="warning",
                    reason=str(error),
                )
        PLATFORM_HEALTH.connection("twitch", True, "eventsub websocket", f"session {session_id}")

    async def _announce(self) -> None:
        await self.runtime.backend.pubsub.publish(CHANNELS_CHANGED, "1")

    async def _listen(self) -> None:
        """Reconcile the held session when told, and every reconcile interval; a lost
        subscription (the backend away) is opened again after a second."""
        interval = self.twitch.settings.reconcile_interval or 3600.0
        while True:
            try:
                async with self.runtime.backend.pubsub.subscribe(CHANNELS_CHANGED) as inbox:
                    while True:
                        await inbox.get(timeout=interval)
                        await self._reconcile_here()
            except Exception as error:
                log_event(
                    logger,
                    Category.ERROR,
                    "twitch_channels_changed",
                    "failed",
                    level="warning",
                    reason=repr(error)[:300],
                )
                await asyncio.sleep(1.0)

    async def _reconcile_here(self) -> None:
        if self.twitch.subscriptions.current is None:
            return  # not the holder (or no welcome yet: it reconciles then)
        await self.twitch.subscriptions.try_reconcile()


class ConduitTransport:
    """This instance's share of the application's conduit shards."""

    def __init__(self, twitch: Twitch, runtime: Runtime, *, instance_id: str | None = None) -> None:
        """``instance_id`` overrides the process's (several instances in one process: tests)."""
        self.twitch = twitch
        self.runtime = runtime
        self.shard_count = twitch.settings.conduit_shards
        self.conduit_id: str | None = None
        self.sessions = _Sessions()
        settings = runtime.settings
        self.coordinator = Coordinator(
            runtime.backend.leases,
            instance_id=instance_id or settings.resolved_instance_id,
            ttl=settings.lease_ttl,
            heartbeat=settings.resolved_heartbeat_interval,
            items=[f"{SHARD_PREFIX}{n}" for n in range(self.shard_count)],
            on_acquired=self._acquired,
            on_lost=self._lost,
        )

    async def run(self) -> None:
        """Find or make the conduit, subscribe on it once, then share out the shards."""
        self.conduit_id = await self.ensure_conduit()
        self.twitch.subscriptions.current = Transport.conduit(self.conduit_id)
        await self._reconcile_once()
        await _coordinate(self.coordinator, self.sessions)

    async def ensure_conduit(self) -> str:
        """The application's conduit (the first Twitch lists), made when there is none —
        by one instance at a time (a lock in the backend) — with the configured shard count."""
        helix, kv = self.twitch.helix, self.runtime.backend.kv
        while True:
            found = await helix.conduits()
            if found:
                conduit = first_conduit(found)
                break
            if await kv.set(CONDUIT_LOCK, "1", ttl=30.0, only_if_absent=True):
                try:
                    found = await helix.conduits()
                    conduit = found[0] if found else await helix.create_conduit(self.shard_count)
                finally:
                    await kv.delete(CONDUIT_LOCK)
                break
            await asyncio.sleep(0.2)
        conduit_id = str(conduit["id"])
        if int(conduit.get("shard_count") or 0) != self.shard_count:
            await helix.update_conduit(conduit_id, self.shard_count)
        log_event(
            logger,
            Category.AUDIT,
            "twitch_conduit",
            "ready",
            conduit=conduit_id,
            shards=self.shard_count,
        )
        return conduit_id

    async def _reconcile_once(self) -> None:
        """Subscriptions live on the conduit, not on an instance: one instance repairs them."""
        interval = self.twitch.settings.reconcile_interval or 60.0
        kv = self.runtime.backend.kv
        if not await kv.set(RECONCILE_LOCK, "1", ttl=interval * 0.9, only_if_absent=True):
            return
        # the bot may not be authorised yet: `waddlebot twitch connect` repairs later
        await self.twitch.subscriptions.try_reconcile()

    async def _acquired(self, lease: Lease) -> None:
        shard = lease.item.removeprefix(SHARD_PREFIX)

        async def point(session_id: str, reconnected: bool) -> None:
            await self.point(lease, shard, session_id)

        socket = EventSubSocket(self.twitch, self.runtime, name=f"shard {shard}", on_welcome=point)
        self.sessions.start(lease.item, socket)

    async def _lost(self, lease: Lease) -> None:
        await self.sessions.stop(lease.item)

    async def point(self, lease: Lease, shard: str, session_id: str) -> None:
        """``PATCH /eventsub/conduits/shards``: the shard → this session, while still ours."""
        if not await self.coordinator.still_held(lease):
            log_event(
                logger,
                Category.SYSTEM,
                "twitch_conduit_shard",
                "fenced",
                level="warning",
                shard=shard,
                token=lease.token,
            )
            raise LeaseGone(f"shard {shard} is no longer held here")
        assert self.conduit_id is not None
        errors = await self.twitch.helix.update_shards(
            self.conduit_id,
            [{"id": shard, "transport": {"method": "websocket", "session_id": session_id}}],
        )
        if errors:
            raise HelixError(400, f"shard {shard}: {errors[0].get('message')}")
        log_event(
            logger,
            Category.SYSTEM,
            "twitch_conduit_shard",
            "pointed",
            shard=shard,
            session_id=session_id,
            token=lease.token,
        )
        held = len(self.coordinator.held)
        PLATFORM_HEALTH.connection("twitch", True, "eventsub conduit", f"{held} shards here")


def first_conduit(found: list[dict[str, Any]]) -> dict[str, Any]:
    """The conduit every instance picks when Twitch lists several (at most 5 per client)."""
    return sorted(found, key=lambda conduit: str(conduit["id"]))[0]


async def outside_the_service(twitch: Twitch, backend: Backend | None) -> None:
    """Prepare a process that holds no session (the CLI): on a conduit, subscriptions can be
    made directly when the conduit exists; over a WebSocket, the process holding the session
    is told on pub/sub (Redis: the running bot; embedded, the running bot's next reconcile)."""
    if twitch.settings.transport == "conduit":
        found = await twitch.helix.conduits()
        if found:
            twitch.subscriptions.current = Transport.conduit(str(first_conduit(found)["id"]))
    elif twitch.settings.transport == "websocket" and backend is not None:

        async def announce() -> None:
            await backend.pubsub.publish(CHANNELS_CHANGED, "1")

        twitch.subscriptions.announce = announce


class LeaseGone(Exception):
    """The shard's lease moved on before its session could be pointed at it."""
