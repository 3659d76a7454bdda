"""How a collector hands events to the router: one contract, two ports.

Where the router runs in this process (``waddlebot up``), events go to its in-process port
(``Runtime.local_ingress()``, kernel/contracts/ingress.py: the same validation and queue as
the HTTP route, no HTTP). Otherwise they go to the router's ingress API over real HTTP with
the collector's service token. Either way a full router queue (429) is retried with backoff
for a bounded time; a router that is unreachable or answers 503 (its Redis is away) raises
:class:`DependencyUnavailable` (the caller's HTTP answer becomes 503 + ``Retry-After``);
anything else the router refuses is raised, never dropped silently.

Over HTTP, the events that webhook handlers submit while a POST is on its way go to the router
together in the next POST (up to a batch of 100, never splitting one caller's events): under
load one request carries many events instead of one each. A batch the router refuses as a
whole for one caller's event (422) is sent again caller by caller, so only that caller fails.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence

import httpx

from waddlebot.kernel.contracts import Event, IngressRefused
from waddlebot.kernel.contracts.ingress import BUSY, events_json
from waddlebot.kernel.contracts.v1 import MAX_BATCH
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
        offer = local.accept if local is not None else self._coalesced().submit
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

    def _coalesced(self) -> _Coalescer:
        """The coalescer of this collector's HTTP client to the router (one per client)."""
        client = self.runtime.client("router", caller=self.collector)
        coalescer = _COALESCERS.get(client)
        if coalescer is None:
            coalescer = _COALESCERS[client] = _Coalescer(self._post)
        return coalescer

    async def _post(self, events: Sequence[Event]) -> list[str]:
        """The HTTP port: ``POST`` the batch; refusals as :class:`IngressRefused`."""
        client = self.runtime.client("router", caller=self.collector)
        body = b"[" + b",".join(events_json(events)) + b"]"
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


_Waiting = tuple[Sequence[Event], "asyncio.Future[list[str]]"]


class _Coalescer:
    """At most one POST on its way: events submitted meanwhile wait and go together in the
    next one (in batches of at most ``MAX_BATCH`` events), so under load a request carries
    many events, and alone an event goes at once."""

    def __init__(self, post: Callable[[Sequence[Event]], Awaitable[list[str]]]) -> None:
        self._post = post
        self._queued: list[_Waiting] = []
        self._sender: asyncio.Task[None] | None = None

    async def submit(self, events: Sequence[Event]) -> list[str]:
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._queued.append((events, future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_queued(), name="router-ingress")
        return await future

    async def _send_queued(self) -> None:
        try:
            while self._queued:
                waiting, self._queued = self._queued, []
                await asyncio.gather(*(self._send(batch) for batch in _batches(waiting)))
        finally:
            self._sender = None
            _fail(self._queued, _stopped())
            self._queued = []

    async def _send(self, batch: list[_Waiting]) -> None:
        live = [(events, future) for events, future in batch if not future.done()]
        if not live:
            return
        try:
            accepted = await self._post([event for events, _ in live for event in events])
        except IngressRefused as refused:
            if refused.status == BUSY or len(live) == 1:
                _fail(live, refused)
            else:  # one caller's event spoilt the batch: each caller on its own
                await asyncio.gather(*(self._send([caller]) for caller in live))
            return
        except Exception as error:  # every caller gets it, as its own POST would have
            _fail(live, error)
            return
        except BaseException:  # stopping: the callers answer 503, the platform redelivers
            _fail(live, _stopped())
            raise
        start = 0
        for events, future in live:
            if not future.done():
                future.set_result(accepted[start : start + len(events)])
            start += len(events)


def _batches(waiting: list[_Waiting]) -> list[list[_Waiting]]:
    """Callers in order, grouped into batches of at most ``MAX_BATCH`` events."""
    batches: list[list[_Waiting]] = [[]]
    size = 0
    for caller in waiting:
        if batches[-1] and size + len(caller[0]) > MAX_BATCH:
            batches.append([])
            size = 0
        batches[-1].append(caller)
        size += len(caller[0])
    return batches


def _stopped() -> DependencyUnavailable:
    return DependencyUnavailable("router", "this collector is stopping")


def _fail(callers: list[_Waiting], error: BaseException) -> None:
    for _, future in callers:
        if not future.done():
            future.set_exception(error)


# One coalescer per HTTP client (a runtime's, per collector), gone with the client.
_COALESCERS: weakref.WeakKeyDictionary[httpx.AsyncClient, _Coalescer] = weakref.WeakKeyDictionary()
