"""The router's ingress as a contract: how a collector hands events to the router.

Two ports keep one contract. Between processes it is ``POST /api/router/v1/events``; inside
``waddlebot up`` the router offers the same ingress as an object (no HTTP, no JSON round trip
through httpx and ASGI, about a sixth of a message's cost). Either way the events are
validated as an :class:`~waddlebot.kernel.contracts.v1.EventBatch`, accepted or refused
whole, and a full queue says "busy" (HTTP 429) instead of dropping anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic_core import PydanticSerializationError

from waddlebot.kernel.contracts.v1 import Event

INVALID = 422
BUSY = 429


class IngressRefused(Exception):
    """The router did not accept the events (HTTP status and one-line detail attached)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"router ingress answered {status}: {detail}")
        self.status = status
        self.detail = detail


def events_json(events: Sequence[Event]) -> list[bytes]:
    """Each event as the JSON either port carries; an event that cannot be written as JSON
    (changed after it was validated, e.g. a lone surrogate) is refused as invalid."""
    try:
        return [event.model_dump_json().encode() for event in events]
    except PydanticSerializationError as error:
        raise IngressRefused(INVALID, f"body: not writable as JSON ({error})") from None


class EventIngress(Protocol):
    """What the router offers collectors running in its own process."""

    async def accept(self, events: Sequence[Event]) -> list[str]:
        """Queue ``events`` (1–100) and return their ids; refuse all of them otherwise.

        Raises :class:`IngressRefused` (422 invalid, 429 queue full) or
        ``DependencyUnavailable`` (the queue's backend is away), as the HTTP port answers.
        """
        ...
