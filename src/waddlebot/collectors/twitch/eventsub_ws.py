"""One EventSub WebSocket session, followed across Twitch's reconnects until cancelled.

The order Twitch asks for: connect, read ``session_welcome`` (its session id and keepalive),
let the owner point something at the session (create subscriptions, or patch a conduit shard)
within the keepalive window, then read. Silence longer than the keepalive plus a margin means
the connection is dead: close it and start a fresh session. ``session_reconnect`` is followed
without losing events: the new connection is opened and its welcome awaited while the old one
keeps buffering, then the old one is closed and what it had buffered is still read.
Notifications and revocations go through :func:`process_verified`, like webhooks (same dedupe,
same normalisation, same ingress); a hand-on the router refuses is retried here, since nobody
redelivers over a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidURI, WebSocketException

from waddlebot.collectors.twitch.components import Twitch
from waddlebot.collectors.twitch.eventsub import (
    MalformedMessage,
    NotHandedOn,
    checked_payload,
    process_verified,
)
from waddlebot.collectors.twitch.metrics import EVENTSUB
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.outages import Backoff
from waddlebot.kernel.runtime import Runtime

logger = get_logger(__name__)
RETRY = Backoff(initial=0.5, maximum=5.0)

# Told the session id of every welcome; ``reconnected`` when Twitch moved the session (its
# subscriptions carried over).
OnWelcome = Callable[[str, bool], Awaitable[None]]


class SessionFailed(Exception):
    """The server did not open a session (no welcome, wrong first message, refused)."""


class TooManyConnections(SessionFailed):
    """Twitch allows 3 WebSocket connections per user and client id; a 4th is refused here."""


class ConnectionBudget:
    """Open connections per Twitch user in this process, at most ``limit`` each."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: Counter[str] = Counter()

    def take(self, user: str) -> None:
        if self.open[user] >= self.limit:
            log_event(
                logger,
                Category.ERROR,
                "twitch_websocket",
                "too_many_connections",
                level="error",
                user=user,
                limit=self.limit,
            )
            raise TooManyConnections(
                f"Twitch allows {self.limit} EventSub WebSocket connections per user; "
                f"user {user} has them all open here"
            )
        self.open[user] += 1

    def give(self, user: str) -> None:
        self.open[user] = max(0, self.open[user] - 1)


@dataclass
class Connection:
    socket: ClientConnection
    session_id: str
    keepalive: float


class EventSubSocket:
    """A session for one owner: the WebSocket transport, or one conduit shard (``name``)."""

    def __init__(
        self,
        twitch: Twitch,
        runtime: Runtime,
        *,
        name: str,
        on_welcome: OnWelcome,
        budget: ConnectionBudget | None = None,
        user: str = "",
    ) -> None:
        self.twitch = twitch
        self.runtime = runtime
        self.settings = twitch.settings
        self.name = name
        self.on_welcome = on_welcome
        self.budget = budget
        self.user = user
        self.connection: Connection | None = None
        self.sessions = 0  # welcomes of fresh sessions (not reconnects), for the health line

    @property
    def first_url(self) -> str:
        url = self.settings.eventsub_ws_url
        joiner = "&" if "?" in url else "?"
        return f"{url}{joiner}keepalive_timeout_seconds={self.settings.eventsub_keepalive}"

    async def run(self) -> None:
        """Hold a session until cancelled: fresh sessions after a dead one, with backoff."""
        failures = 0
        while True:
            try:
                self.connection = await self._open(self.first_url)
                self.sessions += 1
                await self.on_welcome(self.connection.session_id, False)
                failures = 0
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                log_event(
                    logger,
                    Category.ERROR,
                    "twitch_websocket",
                    "session_failed",
                    level="warning",
                    session=self.name,
                    reason=repr(error)[:300],
                )
            finally:
                await self._close(self.connection)
                self.connection = None
            # A dead session is replaced at once, but never in a tight loop (a server that
            # closes every session right after its welcome).
            await asyncio.sleep(RETRY.delay(max(failures, 1)))

    async def _open(self, url: str) -> Connection:
        """Connect and read the welcome (within the HTTP timeout)."""
        if self.budget is not None:
            self.budget.take(self.user)
        try:
            socket = await connect(url, open_timeout=self.settings.http_timeout, ping_interval=None)
        except (OSError, TimeoutError, InvalidURI, WebSocketException) as error:
            self._give()
            raise SessionFailed(f"cannot reach {url}: {error!r}") from error
        try:
            async with asyncio.timeout(self.settings.http_timeout):
                message = json.loads(await socket.recv())
            metadata, payload = message.get("metadata") or {}, message.get("payload") or {}
            if metadata.get("message_type") != "session_welcome":
                raise SessionFailed(f"expected session_welcome, got {metadata.get('message_type')}")
            session = payload.get("session") or {}
            keepalive = float(session.get("keepalive_timeout_seconds") or 10)
            opened = Connection(socket, str(session["id"]), keepalive)
        except BaseException as error:
            await socket.close()
            self._give()
            if isinstance(error, Exception) and not isinstance(error, SessionFailed):
                raise SessionFailed(f"no welcome from {url}: {error!r}") from error
            raise
        log_event(
            logger,
            Category.SYSTEM,
            "twitch_websocket",
            "welcome",
            session=self.name,
            session_id=opened.session_id,
            keepalive=keepalive,
        )
        return opened

    async def _close(self, connection: Connection | None) -> None:
        if connection is None:
            return
        with contextlib.suppress(Exception):
            await connection.socket.close()
        self._give()

    def _give(self) -> None:
        if self.budget is not None:
            self.budget.give(self.user)

    async def _follow(self) -> None:
        """Read until the connection dies (closed, or silent past the keepalive)."""
        while True:
            connection = self.connection
            assert connection is not None
            limit = connection.keepalive + self.settings.eventsub_keepalive_margin
            try:
                async with asyncio.timeout(limit):
                    raw = await connection.socket.recv()
            except TimeoutError:
                log_event(
                    logger,
                    Category.SYSTEM,
                    "twitch_websocket",
                    "silent",
                    level="warning",
                    session=self.name,
                    seconds=limit,
                )
                return
            except ConnectionClosed as closed:
                log_event(
                    logger,
                    Category.SYSTEM,
                    "twitch_websocket",
                    "closed",
                    level="warning",
                    session=self.name,
                    code=closed.rcvd.code if closed.rcvd else None,
                    reason=closed.rcvd.reason if closed.rcvd else None,
                )
                return
            message = _decode(raw)
            if message is None:
                continue
            if message["metadata"].get("message_type") == "session_reconnect":
                await self._move(message)
            else:
                await self.handle(message)

    async def _move(self, message: dict[str, Any]) -> None:
        """``session_reconnect``: new connection, its welcome, then close and drain the old."""
        old = self.connection
        assert old is not None
        session = (message.get("payload") or {}).get("session") or {}
        url = str(session.get("reconnect_url") or "")
        new = await self._open(url)
        self.connection = new
        log_event(logger, Category.SYSTEM, "twitch_websocket", "reconnected", session=self.name)
        try:
            await self.on_welcome(new.session_id, True)
        finally:
            with contextlib.suppress(Exception):
                await old.socket.close()
            self._give()
        with contextlib.suppress(ConnectionClosed):
            async for raw in old.socket:  # what the old connection had buffered still counts
                drained = _decode(raw)
                if drained is not None:
                    await self.handle(drained)

    async def handle(self, message: dict[str, Any]) -> None:
        """One message that is not about the session itself."""
        metadata = message["metadata"]
        kind = str(metadata.get("message_type"))
        if kind in ("session_keepalive", "session_welcome"):
            return
        if kind not in ("notification", "revocation"):
            EVENTSUB.labels("unknown", "ignored").inc()
            return
        message_id = str(metadata.get("message_id") or "")
        try:
            payload = checked_payload(message.get("payload"))
            if not message_id:
                raise MalformedMessage("the message has no message_id")
            await self._hand_on(kind, message_id, payload)
        except MalformedMessage as error:
            log_event(
                logger,
                Category.ERROR,
                "twitch_websocket",
                "malformed",
                level="warning",
                message_id=message_id,
                reason=str(error)[:300],
            )

    async def _hand_on(self, kind: str, message_id: str, payload: dict[str, Any]) -> None:
        """Process it; while the router refuses, retry for up to ``redelivery_after`` seconds
        (Twitch does not redeliver over a socket), then give up with an ERROR line."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.redelivery_after
        attempt = 0
        while True:
            try:
                await process_verified(self.twitch, self.runtime, kind, message_id, payload)
                return
            except NotHandedOn:
                attempt += 1
                if loop.time() >= deadline:
                    log_event(
                        logger,
                        Category.ERROR,
                        "twitch_websocket",
                        "dropped",
                        level="error",
                        message_id=message_id,
                    )
                    return
                await asyncio.sleep(RETRY.delay(attempt))


def _decode(raw: str | bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(raw)
    except ValueError:
        message = None
    if not isinstance(message, dict) or not isinstance(message.get("metadata"), dict):
        log_event(logger, Category.ERROR, "twitch_websocket", "not_json", level="warning")
        return None
    return message
