"""Router ingress: ``POST /api/router/v1/events`` takes one event or a batch of up to 100.

It validates, enqueues and answers 202 with the ids; it never waits for module work. A batch
is accepted or refused whole: 422 names every invalid field (NUL characters, ``data`` over
64 KiB included), 413 refuses a body over 1 MiB (kernel/web.py), 429 says the queue is full.
:class:`LocalIngress` is the same ingress for collectors in the router's own process
(``kernel/contracts/ingress.py``): the same validation and queue, without HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from waddlebot.kernel.backends import QueueFull
from waddlebot.kernel.contracts import Event, EventBatch, IngressAccepted, IngressRefused
from waddlebot.kernel.contracts.ingress import BUSY, INVALID, events_json
from waddlebot.kernel.contracts.names import EVENTS_QUEUE
from waddlebot.kernel.errors import DependencyUnavailable
from waddlebot.kernel.observability.metrics import EVENTS_IN, EVENTS_REJECTED, labelled
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH
from waddlebot.kernel.outages import dependency_of, describe
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.security.api_keys import Principal
from waddlebot.kernel.security.http import require_scope
from waddlebot.kernel.web import get_runtime, validation_detail, validation_problems

EVENTS_SCOPE = "events:write"
RETRY_AFTER_SECONDS = 1
QUEUE_FULL = "the router queue is full; retry shortly"

_batch: TypeAdapter[EventBatch] = TypeAdapter(EventBatch)


def parse_events(payload: Any) -> list[Event]:
    """Validate an event or a batch; 422 naming every invalid field when it is not one."""
    if not isinstance(payload, dict | list):
        EVENTS_REJECTED.labels("invalid").inc()
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "expected an event object or a list of events"}]
        )
    try:
        if isinstance(payload, dict):
            return [Event.model_validate(payload)]
        return _batch.validate_python(payload).root
    except ValidationError as error:
        EVENTS_REJECTED.labels("invalid").inc()
        raise RequestValidationError(_body_errors(error)) from None


def _body_errors(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {**item, "loc": ("body", *item["loc"])}
        for item in error.errors(include_url=False, include_context=False)
    ]


async def enqueue(
    runtime: Runtime, events: list[Event], payloads: list[bytes] | None = None
) -> list[str]:
    """Put validated events on the router queue, all or none; ``QueueFull`` when full.

    ``payloads``: their JSON, when the caller has it already (the worker validates what it
    takes again, so JSON that validated to these events is as good as their own dump).
    """
    if payloads is None:
        payloads = [event.model_dump_json().encode() for event in events]
    try:
        await runtime.backend.queues.put(
            EVENTS_QUEUE, payloads, max_length=runtime.settings.router_queue_max
        )
    except QueueFull:
        EVENTS_REJECTED.labels("queue_full").inc(len(events))
        raise
    for event in events:
        labelled(EVENTS_IN, event.platform.value, event.type.value).inc()
        PLATFORM_HEALTH.event_received(event.platform.value)
    return [event.id for event in events]


class LocalIngress:
    """The ingress for collectors in the router's process (an ``EventIngress``).

    The events are validated exactly as the HTTP route validates what it parsed (an
    ``EventBatch`` from their JSON form), so a collector cannot slip past a rule by being
    local; refusals carry the status and one-line detail the HTTP route would have answered.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def accept(self, events: Sequence[Event]) -> list[str]:
        try:
            payloads = events_json(events)
        except IngressRefused:
            EVENTS_REJECTED.labels("invalid").inc()
            raise
        try:
            # the very JSON the HTTP route would receive, validated as it would be
            batch = _batch.validate_json(b"[" + b",".join(payloads) + b"]")
        except ValidationError as error:
            EVENTS_REJECTED.labels("invalid").inc()
            problems = _body_errors(error)
            detail = validation_detail(validation_problems(problems), len(problems))
            raise IngressRefused(INVALID, detail) from None
        try:
            return await enqueue(self.runtime, batch.root, payloads)
        except QueueFull:
            raise IngressRefused(BUSY, QUEUE_FULL) from None
        except Exception as error:
            if dependency_of(error) is None:
                raise
            # what the HTTP route's 503 becomes at the collector
            raise DependencyUnavailable("router", describe(error)) from error


def router_api() -> APIRouter:
    api = APIRouter(prefix="/api/router/v1", tags=["router"])

    @api.post(
        "/events",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=IngressAccepted,
        responses={
            413: {"description": "body over 1 MiB"},
            422: {"description": "invalid event"},
            429: {"description": "queue full"},
        },
    )
    async def ingest(
        request: Request,
        payload: Annotated[Any, Body(description="an Event or a list of up to 100 Events")],
        _: Annotated[Principal, Depends(require_scope(EVENTS_SCOPE))],
    ) -> IngressAccepted | JSONResponse:
        events = parse_events(payload)
        try:
            accepted = await enqueue(get_runtime(request), events)
        except QueueFull:
            return JSONResponse(
                {"detail": QUEUE_FULL},
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return IngressAccepted(accepted=accepted)

    return api
