"""HTTP plumbing every service shares: runtime access, health, readiness and metrics."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from waddlebot.kernel.errors import Refusal
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.metrics import DEPENDENCY_UNAVAILABLE, REGISTRY
from waddlebot.kernel.outages import as_unavailable

if TYPE_CHECKING:
    from waddlebot.kernel.runtime import Runtime
    from waddlebot.kernel.service import Service

logger = get_logger(__name__)
RETRY_AFTER_SECONDS = 5  # what a 503 asks clients (and webhook platforms) to wait
LOG_503_EVERY = 10.0  # seconds: an outage refusing many requests logs one line per period
_quiet: dict[str, tuple[float, int]] = {}  # dependency → (last logged, 503s not logged since)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def refusal_answer(request: Request, error: Exception) -> JSONResponse:
    """Any :class:`Refusal` a manager raises, as ``{"detail": message}`` with its status."""
    assert isinstance(error, Refusal)
    return JSONResponse({"detail": error.message}, status_code=error.status)


async def unavailable_answer(request: Request, error: Exception) -> JSONResponse:
    """Any dependency outage (``kernel/outages.py``) as 503 with ``Retry-After``.

    Nothing was accepted: the caller (or the platform redelivering a webhook) retries later.
    A driver error that is not an outage (e.g. a constraint violation) goes on as a 500.
    """
    outage = as_unavailable(error)
    if outage is None:
        raise error
    DEPENDENCY_UNAVAILABLE.labels(outage.dependency).inc()
    suppressed = _quiet.pop(outage.dependency, None)
    now = time.monotonic()
    if suppressed is not None and now - suppressed[0] < LOG_503_EVERY:
        _quiet[outage.dependency] = (suppressed[0], suppressed[1] + 1)
    else:  # the first 503 of an outage, then one line per LOG_503_EVERY with the count
        _quiet[outage.dependency] = (now, 0)
        log_event(
            logger,
            Category.ERROR,
            "dependency_unavailable",
            "503",
            level="warning",
            dependency=outage.dependency,
            path=request.url.path,
            error=outage.detail,
            also_refused=suppressed[1] if suppressed else 0,
        )
    return JSONResponse(
        {"detail": f"temporarily unavailable ({outage.dependency}); retry shortly"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def task_health(services: list[Service]) -> tuple[bool, dict[str, dict[str, object]]]:
    """Whether every background task of ``services`` runs, and the state of those that do not."""
    unhealthy = {
        name: health.report()
        for service in services
        for name, health in service.health.items()
        if not health.healthy
    }
    return not unhealthy, unhealthy


def health_api() -> APIRouter:
    """``/healthz`` (the process is alive), ``/readyz`` (its dependencies answer and its
    background tasks run), ``/metrics``."""
    api = APIRouter(tags=["health"])

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        runtime = get_runtime(request)
        checks = {"database": await runtime.db.ping(), "cache": await runtime.backend.ping()}
        checks["workers"], failing = task_health(getattr(request.app.state, "services", []))
        ready = all(checks.values())
        body: dict[str, object] = {"status": "ready" if ready else "unavailable", "checks": checks}
        if failing:
            body["failing"] = failing  # task name → state (recovering, backoff, dead), error
        return JSONResponse(body, status_code=200 if ready else 503)

    @api.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return api
