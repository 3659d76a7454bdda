"""Router ingress: ``POST /api/router/v1/events`` takes one event or a batch of up to 100.

It validates, enqueues and answers 202 with the ids; it never waits for module work. A batch
is accepted or refused whole: 422 names every invalid field (NUL characters, ``data`` over
64 KiB included), 413 refuses a body over 1 MiB (kernel/web.py), 429 says the queue is full.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from waddlebot.kernel.backends import QueueFull
from waddlebot.kernel.contracts import Event, EventBatch, IngressAccepted
from waddlebot.kernel.observability.metrics import EVENTS_IN, EVENTS_REJECTED
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH
from waddlebot.kernel.security.api_keys import Principal
from waddlebot.kernel.security.http import require_scope
from waddlebot.kernel.web import get_runtime
from waddlebot.router.worker import EVENTS_QUEUE

EVENTS_SCOPE = "events:write"
RETRY_AFTER_SECONDS = 1

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
        raise RequestValidationError(
            [
                {**item, "loc": ("body", *item["loc"])}
                for item in error.errors(include_url=False, include_context=False)
            ]
        ) from None


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
        runtime = get_runtime(request)
        try:
            await runtime.backend.queues.put(
                EVENTS_QUEUE,
                [event.model_dump_json().encode() for event in events],
                max_length=runtime.settings.router_queue_max,
            )
        except QueueFull:
            EVENTS_REJECTED.labels("queue_full").inc(len(events))
            return JSONResponse(
                {"detail": "the router queue is full; retry shortly"},
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        for event in events:
            EVENTS_IN.labels(event.platform.value, event.type.value).inc()
            PLATFORM_HEALTH.event_received(event.platform.value)
        return IngressAccepted(accepted=[event.id for event in events])

    return api
