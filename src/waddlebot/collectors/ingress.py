"""How a collector hands events to the router: the router's ingress API, through one client.

The same code runs embedded (in-process ASGI transport) and distributed (real HTTP), with the
collector's service token. A full router queue (429) is retried with backoff for a bounded
time; a router that is unreachable or answers 503 (its Redis is away) raises
:class:`DependencyUnavailable` (the caller's HTTP answer becomes 503 + ``Retry-After``);
anything else the router refuses is raised, never dropped silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx

from waddlebot.kernel.contracts import Event
from waddlebot.kernel.errors import DependencyUnavailable
from waddlebot.kernel.observability.logging import bind_event, trace
from waddlebot.kernel.outages import describe
from waddlebot.kernel.runtime import Runtime

INGRESS_PATH = "/api/router/v1/events"


class IngressRefused(Exception):
    """The router did not accept the events (status and detail attached)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"router ingress answered {status}: {detail}")
        self.status = status
        self.detail = detail


class RouterIngress:
    def __init__(self, runtime: Runtime, *, collector: str, busy_retry_for: float = 5.0) -> None:
        self.runtime = runtime
        self.collector = collector
        self.busy_retry_for = busy_retry_for

    async def submit(self, events: Sequence[Event]) -> list[str]:
        """Queue ``events`` (≤ 100) at the router; return the accepted ids."""
        if len(events) == 1:  # a webhook's one event: the rest of its request logs the id
            bind_event(events[0].id)
        client = self.runtime.client("router", caller=self.collector)
        body = "[" + ",".join(event.model_dump_json() for event in events) + "]"
        delay, waited = 0.05, 0.0
        while True:
            try:
                answer = await client.post(
                    INGRESS_PATH, content=body, headers={"content-type": "application/json"}
                )
            except httpx.TransportError as error:  # the router process is away
                raise DependencyUnavailable("router", describe(error)) from error
            if answer.status_code == httpx.codes.SERVICE_UNAVAILABLE:  # its Redis is away
                raise DependencyUnavailable("router", _detail(answer))
            if answer.status_code == httpx.codes.ACCEPTED:
                accepted: list[str] = answer.json()["accepted"]
                trace(__name__, "event_queued", collector=self.collector, events=len(accepted))
                return accepted
            if answer.status_code != httpx.codes.TOO_MANY_REQUESTS or waited >= self.busy_retry_for:
                raise IngressRefused(answer.status_code, _detail(answer))
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 1.0)


def _detail(answer: httpx.Response) -> str:
    try:
        detail = answer.json().get("detail", answer.text)
    except ValueError:
        detail = answer.text
    return detail if isinstance(detail, str) else str(detail)
