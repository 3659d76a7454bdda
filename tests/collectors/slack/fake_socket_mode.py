"""A fake Slack Socket Mode server on loopback, speaking its envelope protocol: ``hello`` on
connect, envelopes (``events_api``, ``slash_commands``, ``interactive``) pushed by the test,
acknowledgements ``{"envelope_id": …, "payload"?: …}`` recorded, ``disconnect`` on demand."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.collectors.slack.fake_slack import envelope, slash_form


@dataclass
class FakeSocketMode:
    url: str = ""
    connections: list[ServerConnection] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, connection: ServerConnection) -> None:
        self.connections.append(connection)
        hello = {
            "type": "hello",
            "num_connections": len(self.connections),
            "debug_info": {"host": "fake", "approximate_connection_time": 18060},
            "connection_info": {"app_id": "A0001"},
        }
        await connection.send(json.dumps(hello))
        try:
            async for raw in connection:
                self.acks.append(json.loads(raw))
        except ConnectionClosed:
            pass

    async def send(self, message: dict[str, Any], connection: int = -1) -> None:
        """Push ``message`` down a connection (by default the newest: Slack's choice)."""
        await self.connections[connection].send(json.dumps(message))

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        await self.send({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}})

    async def wait_for_connections(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.connections) < count:
            assert time.monotonic() < deadline, f"expected {count} connections"
            await asyncio.sleep(0.02)

    def open_connections(self) -> list[int]:
        """Indexes of the connections still open (a client under load may have replaced one)."""
        return [i for i, c in enumerate(self.connections) if c.state.name == "OPEN"]

    async def wait_for_open(self, count: int, timeout: float = 10.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while len(self.open_connections()) < count:
            assert time.monotonic() < deadline, f"expected {count} open connections"
            await asyncio.sleep(0.02)
        return self.open_connections()

    async def ack_of(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for ack in self.acks:
                if ack.get("envelope_id") == envelope_id:
                    return ack
            assert time.monotonic() < deadline, f"no ack for {envelope_id}: {self.acks}"
            await asyncio.sleep(0.02)


@asynccontextmanager
async def fake_socket_mode() -> AsyncIterator[FakeSocketMode]:
    fake = FakeSocketMode()
    async with serve(fake.handle, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        fake.url = f"ws://127.0.0.1:{port}/link/?ticket=fake-ticket&app_id=A0001"
        yield fake


def events_api(
    envelope_id: str, event: dict[str, Any], *, event_id: str, retry: int = 0
) -> dict[str, Any]:
    """An ``events_api`` envelope: its payload is exactly the Events API webhook body."""
    return {
        "envelope_id": envelope_id,
        "type": "events_api",
        "payload": json.loads(envelope(event, event_id=event_id)),
        "accepts_response_payload": False,
        "retry_attempt": retry,
        "retry_reason": "timeout" if retry else "",
    }


def slash_command(
    envelope_id: str, text: str, *, response_url: str, trigger: str
) -> dict[str, Any]:
    """A ``slash_commands`` envelope: the webhook's form fields as a JSON object."""
    form = dict(parse_qsl(slash_form(text, response_url=response_url, trigger=trigger).decode()))
    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "payload": form,
        "accepts_response_payload": True,
    }


def interactive(envelope_id: str) -> dict[str, Any]:
    return {
        "envelope_id": envelope_id,
        "type": "interactive",
        "payload": {
            "type": "block_actions",
            "team": {"id": "T0001"},
            "user": {"id": "U061F7AUR"},
            "actions": [{"action_id": "a1", "value": "v"}],
        },
        "accepts_response_payload": False,
    }
