"""HTTP plumbing every service shares: runtime access, health, readiness and metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from waddlebot.kernel.errors import Refusal
from waddlebot.kernel.observability.metrics import REGISTRY

if TYPE_CHECKING:
    from waddlebot.kernel.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def refusal_answer(request: Request, error: Exception) -> JSONResponse:
    """Any :class:`Refusal` a manager raises, as ``{"detail": message}`` with its status."""
    assert isinstance(error, Refusal)
    return JSONResponse({"detail": error.message}, status_code=error.status)


def health_api() -> APIRouter:
    """``/healthz`` (the process is alive), ``/readyz`` (its dependencies answer), ``/metrics``."""
    api = APIRouter(tags=["health"])

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        runtime = get_runtime(request)
        checks = {"database": await runtime.db.ping(), "cache": await runtime.backend.ping()}
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    @api.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return api
