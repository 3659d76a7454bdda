"""The overlay hub: per-community state and fan-out to the WebSockets of this process.

Every process that holds overlay sockets for a community subscribes to that community's
``overlay:<community>`` channel (router overlay actions and direct pushes) and to
``overlay-tokens:<community>`` (revocations), so any number of instances behind a load
balancer show the same thing. Each process keeps the same bounded state from the same ordered
stream: the ticker FIFO (oldest dropped beyond ``ticker_max``), the current media and general
cards (a new one replaces the old), and the alert queue, paced so two alerts never overlap.
A page that connects (or reconnects) gets ``hello`` and then what is currently on screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pydantic import ValidationError

from waddlebot.kernel.backends import Backend
from waddlebot.kernel.contracts import OverlayAction, OverlayMessage
from waddlebot.kernel.contracts.names import overlay_channel
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.outages import Backoff, describe
from waddlebot.kernel.storage.models import utcnow
from waddlebot.overlays.config import OverlaySettings
from waddlebot.overlays.metrics import CONNECTED, DROPPED, PUSHED
from waddlebot.overlays.sanitize import KINDS, ContentRejected, sanitise
from waddlebot.overlays.tokens import control_channel

logger = get_logger(__name__)

SOCKET_BUFFER = 256  # messages waiting for one slow socket before new ones are dropped
CLOSE_REVOKED = 4401
CLOSE_WRONG_KIND = 4403
CLOSE_TIMEOUT = 4408
CLOSE_GOING_AWAY = 1001
LISTEN_BACKOFF = Backoff(initial=0.2, maximum=5.0)  # re-subscribing through an outage


@dataclass(frozen=True, slots=True)
class Close:
    """Ask a socket's writer to say goodbye and close."""

    code: int
    reason: str


class Connection:
    """One overlay WebSocket as the hub sees it: its kind, its token and an outbox."""

    def __init__(self, kind: str, token_hash: str) -> None:
        self.kind = kind
        self.token_hash = token_hash
        self.outbox: asyncio.Queue[str | Close] = asyncio.Queue()  # JSON frames, or a close
        self.last_seen = time.monotonic()

    def offer(self, message: OverlayMessage | str) -> bool:
        """Queue ``message`` (or its JSON, serialised once for a whole broadcast); False
        (dropped) when the socket is too far behind."""
        if self.outbox.qsize() >= SOCKET_BUFFER:
            DROPPED.labels(self.kind, "slow_client").inc()
            return False
        self.outbox.put_nowait(message if isinstance(message, str) else message.model_dump_json())
        return True

    def close(self, code: int, reason: str) -> None:
        self.outbox.put_nowait(Close(code, reason))


@dataclass
class Shown:
    """A message on screen and when (monotonic) it stops being shown; None = until replaced."""

    message: OverlayMessage
    until: float | None

    def remaining(self, now: float) -> float | None:
        return None if self.until is None else max(self.until - now, 0.0)

    def live(self, now: float) -> bool:
        return self.until is None or self.until > now


@dataclass
class CommunityFeed:
    community_id: str
    connections: set[Connection] = field(default_factory=set)
    joining: int = 0
    ticker: deque[Shown] = field(default_factory=deque)
    cards: dict[str, Shown] = field(default_factory=dict)  # media, general
    alert: Shown | None = None
    pending_alerts: deque[OverlayMessage] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    listener: asyncio.Task[None] | None = None
    pacer: asyncio.Task[None] | None = None
    retire: asyncio.TimerHandle | None = None


class OverlayHub:
    """Subscribes per community while it has sockets here (plus a linger period)."""

    def __init__(self, backend: Backend, config: OverlaySettings) -> None:
        self.backend = backend
        self.config = config
        self.feeds: dict[str, CommunityFeed] = {}

    # ------------------------------------------------------------------ sockets

    async def join(self, community_id: str, connection: Connection) -> None:
        """Register ``connection`` once the community's subscription is live, then queue
        ``hello`` and a replay of what is on screen for its kind."""
        feed = self.feeds.get(community_id)
        if feed is None:
            feed = CommunityFeed(community_id)
            self.feeds[community_id] = feed
            feed.listener = asyncio.create_task(
                self._listen(feed), name=f"overlays:listen:{community_id}"
            )
        if feed.retire is not None:
            feed.retire.cancel()
            feed.retire = None
        feed.joining += 1  # a concurrent leave must not retire the feed while we wait
        try:
            await asyncio.wait_for(feed.ready.wait(), timeout=10)
        except BaseException:
            feed.joining -= 1
            self._schedule_retire(feed)
            raise
        feed.joining -= 1
        # From here on nothing awaits: hello and the replay come before any live message.
        feed.connections.add(connection)
        CONNECTED.labels(connection.kind).inc()
        connection.offer(
            OverlayMessage(
                type="hello",
                content={
                    "kind": connection.kind,
                    "ticker_max": self.config.ticker_max,
                    "ping_interval": self.config.ping_interval,
                },
            )
        )
        for message in self._snapshot(feed, connection.kind):
            connection.offer(message)

    def leave(self, community_id: str, connection: Connection) -> None:
        feed = self.feeds.get(community_id)
        if feed is None or connection not in feed.connections:
            return
        feed.connections.discard(connection)
        CONNECTED.labels(connection.kind).dec()
        self._schedule_retire(feed)

    def _schedule_retire(self, feed: CommunityFeed) -> None:
        if not feed.connections and not feed.joining and feed.retire is None:
            loop = asyncio.get_running_loop()
            feed.retire = loop.call_later(self.config.linger, self._retire, feed.community_id)

    def connection_count(self, community_id: str | None = None) -> int:
        feeds = [self.feeds.get(community_id)] if community_id else list(self.feeds.values())
        return sum(len(feed.connections) for feed in feeds if feed is not None)

    def _retire(self, community_id: str) -> None:
        feed = self.feeds.get(community_id)
        if feed is None:
            return
        feed.retire = None
        if feed.connections or feed.joining:
            return
        del self.feeds[community_id]
        for task in (feed.listener, feed.pacer):
            if task is not None:
                task.cancel()

    async def close(self) -> None:
        """Say goodbye to every socket and stop listening."""
        tasks: list[asyncio.Task[None]] = []
        for feed in self.feeds.values():
            for connection in feed.connections:
                connection.close(CLOSE_GOING_AWAY, "server shutting down")
            if feed.retire is not None:
                feed.retire.cancel()
            tasks.extend(task for task in (feed.listener, feed.pacer) if task is not None)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.feeds.clear()

    # ------------------------------------------------------------------ the stream

    async def _listen(self, feed: CommunityFeed) -> None:
        """Stay subscribed for the feed's life; through an outage retry with backoff, sockets
        stay open, and one line is logged when it begins and one when it ends."""
        channels = (overlay_channel(feed.community_id), control_channel(feed.community_id))
        failures = 0
        while True:
            try:
                async with self.backend.pubsub.subscribe(*channels) as subscription:
                    feed.ready.set()
                    if failures:
                        log_event(
                            logger,
                            Category.SYSTEM,
                            "overlay_subscription",
                            "recovered",
                            community=feed.community_id,
                            failures=failures,
                        )
                        failures = 0
                    async for channel, payload in subscription:
                        if channel == channels[1]:
                            self._revoke(feed, payload)
                        else:
                            self.accept(feed, payload)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the backend went away: retry, sockets stay open
                failures += 1
                if failures == 1:
                    log_event(
                        logger,
                        Category.ERROR,
                        "overlay_subscription",
                        "lost",
                        level="warning",
                        community=feed.community_id,
                        error=describe(error),
                    )
            await asyncio.sleep(LISTEN_BACKOFF.delay(max(failures, 1)))

    async def revalidate(self, live_hashes: Callable[[set[str]], Awaitable[set[str]]]) -> None:
        """Every ``revalidate_interval``, close sockets whose token is gone (a revocation whose
        pub/sub notice was lost, or made by a process on another in-memory backend)."""
        while True:
            await asyncio.sleep(self.config.revalidate_interval)
            connections = [c for feed in self.feeds.values() for c in feed.connections]
            if not connections:
                continue
            try:
                live = await live_hashes({connection.token_hash for connection in connections})
            except Exception as error:  # the database is away: try again next round
                log_event(
                    logger,
                    Category.ERROR,
                    "overlay_revalidate",
                    "error",
                    level="warning",
                    error=repr(error),
                )
                continue
            for connection in connections:
                if connection.token_hash not in live:
                    connection.close(CLOSE_REVOKED, "this overlay URL was revoked")

    def _revoke(self, feed: CommunityFeed, payload: bytes) -> None:
        try:
            revoked = set(json.loads(payload).get("revoked", []))
        except (ValueError, AttributeError, TypeError):
            return
        for connection in list(feed.connections):
            if connection.token_hash in revoked:
                connection.close(CLOSE_REVOKED, "this overlay URL was revoked")

    def accept(self, feed: CommunityFeed, payload: bytes) -> None:
        """Apply one published :class:`OverlayAction` to the feed and fan it out."""
        try:
            action = OverlayAction.model_validate_json(payload)
            content = sanitise(action.kind, action.content, self.config.image_hosts)
        except (ValidationError, ContentRejected) as error:
            DROPPED.labels("unknown", "invalid").inc()
            log_event(
                logger,
                Category.ERROR,
                "overlay_action",
                "rejected",
                level="warning",
                community=feed.community_id,
                detail=str(error)[:300],
            )
            return
        PUSHED.labels(action.kind).inc()
        now = time.monotonic()
        if action.kind == "clear":
            self._clear(feed, content.get("kind"))
            return
        if action.kind == "alert":
            duration = action.duration or self.config.alert_duration
            message = OverlayMessage(type="alert", content=content, duration=duration)
            if len(feed.pending_alerts) >= self.config.alert_queue_max:
                feed.pending_alerts.popleft()
                DROPPED.labels("alert", "alert_queue_full").inc()
            feed.pending_alerts.append(message)
            if feed.pacer is None or feed.pacer.done():
                feed.pacer = asyncio.create_task(
                    self._pace_alerts(feed), name=f"overlays:alerts:{feed.community_id}"
                )
            return
        if action.kind == "ticker":
            duration = action.duration or self.config.ticker_duration
            message = OverlayMessage(type="ticker", content=content, duration=duration)
            while feed.ticker and not feed.ticker[0].live(now):
                feed.ticker.popleft()
            if len(feed.ticker) >= self.config.ticker_max:
                feed.ticker.popleft()  # the page drops its oldest line too
                DROPPED.labels("ticker", "ticker_full").inc()
            feed.ticker.append(Shown(message, now + duration))
        else:  # media, general: the new card replaces the current one
            message = OverlayMessage(type=action.kind, content=content, duration=action.duration)
            feed.cards[action.kind] = Shown(
                message, now + action.duration if action.duration else None
            )
        self._broadcast(feed, action.kind, message)

    async def _pace_alerts(self, feed: CommunityFeed) -> None:
        while feed.pending_alerts:
            message = feed.pending_alerts.popleft().model_copy(update={"sent_at": utcnow()})
            duration = message.duration or self.config.alert_duration
            feed.alert = Shown(message, time.monotonic() + duration)
            self._broadcast(feed, "alert", message)
            await asyncio.sleep(duration + self.config.alert_gap)
        feed.alert = None

    def _clear(self, feed: CommunityFeed, kind: str | None) -> None:
        kinds = [kind] if kind else list(KINDS)
        for each in kinds:
            if each == "ticker":
                feed.ticker.clear()
            elif each == "alert":
                feed.pending_alerts.clear()
                feed.alert = None
                if feed.pacer is not None:
                    feed.pacer.cancel()
                    feed.pacer = None
            else:
                feed.cards.pop(each, None)
            self._broadcast(feed, each, OverlayMessage(type="clear", content={"kind": each}))

    def _broadcast(self, feed: CommunityFeed, kind: str, message: OverlayMessage) -> None:
        frame = message.model_dump_json()  # once, not once per socket (1,000 sockets: ~2 %)
        for connection in feed.connections:
            if connection.kind == kind:
                connection.offer(frame)

    def _snapshot(self, feed: CommunityFeed, kind: str) -> list[OverlayMessage]:
        now = time.monotonic()
        shown: list[Shown] = []
        if kind == "ticker":
            shown = [item for item in feed.ticker if item.live(now)]
        elif kind == "alert":
            shown = [feed.alert] if feed.alert is not None and feed.alert.live(now) else []
        elif kind in feed.cards and feed.cards[kind].live(now):
            shown = [feed.cards[kind]]
        return [item.message.model_copy(update={"duration": item.remaining(now)}) for item in shown]
