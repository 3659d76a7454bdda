"""A fake EventSub WebSocket server on loopback, next to the fake Helix (``fake_twitch.py``).

It speaks the documented messages: ``session_welcome`` (with its keepalive timeout),
``session_keepalive`` when nothing else was sent for that long, ``notification`` and
``revocation`` for subscriptions the fake Helix made on a session (or a conduit shard pointing
at one), and ``session_reconnect`` to a second URL that carries the same session over. Tests
script it: ``notify``, ``reconnect``, ``revoke``, ``silence``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


def _now() -> str:
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}123Z"


@dataclass
class FakeSession:
    id: str
    keepalive: int
    socket: ServerConnection | None = None
    connections: int = 0
    silent: bool = False
    last_sent: float = 0.0

    @property
    def connected(self) -> bool:
        return self.socket is not None


@dataclass
class FakeEventSub:
    keepalive: int = 10
    url: str = ""  # ws://127.0.0.1:<port>/ws, set when serving
    sessions: dict[str, FakeSession] = field(default_factory=dict)
    requested: list[str] = field(default_factory=list)  # every path a client connected to
    on_close: list[Any] = field(default_factory=list)  # callbacks(session_id) when one drops
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[FakeEventSub]:
        async with serve(self._handler, "127.0.0.1", 0, ping_interval=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}/ws"
            try:
                yield self
            finally:
                for session in self.sessions.values():
                    if session.socket is not None:
                        await session.socket.close()

    @property
    def base(self) -> str:
        return self.url.removesuffix("/ws")

    def live(self) -> list[FakeSession]:
        return [session for session in self.sessions.values() if session.connected]

    # ---- the server -------------------------------------------------------------------
    async def _handler(self, socket: ServerConnection) -> None:
        path = socket.request.path if socket.request else "/ws"
        self.requested.append(path)
        if path.startswith("/reconnect/"):
            session = self.sessions[path.removeprefix("/reconnect/")]
        else:
            session = FakeSession(f"session-{next(self._counter)}-{uuid.uuid4().hex[:6]}", 0)
            session.keepalive = self.keepalive
            self.sessions[session.id] = session
        session.socket = socket
        session.connections += 1
        await self._send(
            session,
            "session_welcome",
            {
                "session": {
                    "id": session.id,
                    "status": "connected",
                    "connected_at": _now(),
                    "keepalive_timeout_seconds": session.keepalive,
                    "reconnect_url": None,
                    "recovery_url": None,
                }
            },
        )
        keepalive = asyncio.create_task(self._keepalive(session, socket))
        try:
            with contextlib.suppress(ConnectionClosed):
                async for _ in socket:  # clients send nothing; this waits for the close
                    pass
        finally:
            keepalive.cancel()
            if session.socket is socket:  # not moved to a new connection: the session ends
                session.socket = None
                for callback in self.on_close:
                    callback(session.id)

    async def _keepalive(self, session: FakeSession, socket: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.05)
            if session.socket is not socket:
                return
            if not session.silent and loop.time() - session.last_sent >= session.keepalive:
                await self._send(session, "session_keepalive", {})

    async def _send(
        self,
        session: FakeSession,
        kind: str,
        payload: dict[str, Any],
        *,
        message_id: str | None = None,
        subscription: dict[str, Any] | None = None,
        socket: ServerConnection | None = None,
    ) -> str:
        message_id = message_id or str(uuid.uuid4())
        metadata: dict[str, Any] = {
            "message_id": message_id,
            "message_type": kind,
            "message_timestamp": _now(),
        }
        if subscription is not None:
            metadata["subscription_type"] = subscription["type"]
            metadata["subscription_version"] = subscription["version"]
        target = socket or session.socket
        assert target is not None, f"session {session.id} has no connection"
        await target.send(json.dumps({"metadata": metadata, "payload": payload}))
        session.last_sent = asyncio.get_running_loop().time()
        return message_id

    # ---- scripting --------------------------------------------------------------------
    async def send_notification(
        self,
        session_id: str,
        subscription: dict[str, Any],
        event: dict[str, Any],
        *,
        message_id: str | None = None,
    ) -> str:
        """A ``notification`` for ``subscription`` on the session's current connection."""
        session = self.sessions[session_id]
        payload = {"subscription": subscription, "event": event}
        return await self._send(
            session, "notification", payload, message_id=message_id, subscription=subscription
        )

    async def send_revocation(self, session_id: str, subscription: dict[str, Any]) -> str:
        session = self.sessions[session_id]
        return await self._send(
            session, "revocation", {"subscription": subscription}, subscription=subscription
        )

    async def reconnect(
        self, session_id: str, *, then: list[tuple[dict[str, Any], dict[str, Any]]] = ()
    ) -> None:
        """``session_reconnect`` to a second URL, then ``then`` — (subscription, event) pairs —
        still on the old connection (they must not be lost while the client moves)."""
        session = self.sessions[session_id]
        old = session.socket
        assert old is not None
        url = f"{self.base}/reconnect/{session_id}"
        await self._send(
            session,
            "session_reconnect",
            {
                "session": {
                    "id": session_id,
                    "status": "reconnecting",
                    "keepalive_timeout_seconds": None,
                    "reconnect_url": url,
                    "connected_at": _now(),
                }
            },
        )
        for subscription, event in then:
            await self._send(
                session,
                "notification",
                {"subscription": subscription, "event": event},
                subscription=subscription,
                socket=old,
            )

    def silence(self, session_id: str) -> None:
        """Stop keepalives (a connection that died without a close)."""
        self.sessions[session_id].silent = True
