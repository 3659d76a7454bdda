"""How a collector hands events to the router: one contract, two ports.

Where the router runs in this process (``waddlebot up``), events go to its in-process port
(``Runtime.local_ingress()``, kernel/contracts/ingress.py: the same validation and queue as
the HTTP route, no HTTP). Otherwise they go to the router's ingress API over real HTTP with
the collector's service token. Either way a full router queue (429) is retried with backoff
for a bounded time; a router that is unreachable or answers 503 (its Redis is away) raises
:class:`DependencyUnavailable` (the caller's HTTP answer becomes 503 + ``Retry-After``);
anything else the router refuses is raised, never dropped silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx

from waddlebot.kernel.contracts import Event, IngressRefused
from waddlebot.kernel.contracts.ingress import BUSY
from waddlebot.kernel.errors import DependencyUnavailable
from waddlebot.kernel.observability.logging import bind_event, trace
from waddlebot.kernel.outages import describe
from waddlebot.kernel.runtime import Runtime

__all__ = ["INGRESS_PATH", "IngressRefused", "RouterIngress"]  # IngressRefused: the contract's

INGRESS_PATH = "/api/router/v1/events"


class RouterIngress:
    """A collector's way to the router: the in-process port when there is one, else HTTP."""

    def __init__(self, runtime: Runtime, *, collector: str, busy_retry_for: float = 5.0) -> None:
        self.runtime = runtime
        self.collector = collector
        self.busy_retry_for = busy_retry_for

    async def submit(self, events: Sequence[Event]) -> list[str]:
        """Queue ``events`` (≤ 100) at the router; return the accepted ids."""
        if len(events) == 1:  # a webhook's one event: the rest of its request logs the id
            bind_event(events[0].id)
        local = self.runtime.local_ingress()
        offer = local.accept if local is not None else self._post
        delay, waited = 0.05, 0.0
        while True:
            try:
                accepted = await offer(events)
            except IngressRefused as refused:
                if refused.status != BUSY or waited >= self.busy_retry_for:
                    raise
            else:
                trace(__name__, "event_queued", collector=self.collector, events=len(accepted))
                return accepted
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 1.0)

    async def _post(self, events: Sequence[Event]) -> list[str]:
        """The HTTP port: ``POST`` the batch; refusals as :class:`IngressRefused`."""
        client = self.runtime.client("router", caller=self.collector)
        body = "[" + ",".join(event.model_dump_json() for event in events) + "]"
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
            return accepted
        raise IngressRefused(answer.status_code, _detail(answer))


def _detail(answer: httpx.Response) -> str:
    try:
        detail = answer.json().get("detail", answer.text)
    except ValueError:
        detail = answer.text
    return detail if isinstance(detail, str) else str(detail)
