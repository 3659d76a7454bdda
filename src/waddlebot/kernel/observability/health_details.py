"""``GET /api/health/v1/details``: everything ``/readyz`` checks and what it does not fail on,
for installation admins: dependencies with latency, every background task, every platform.

Served by every process (each reports its own dependencies and tasks; platforms are the
whole installation's view, see ``platforms.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status

from waddlebot.kernel.observability.dependencies import backend_name, probe
from waddlebot.kernel.observability.platforms import PROCESS, installation_view
from waddlebot.kernel.security.api_keys import Principal
from waddlebot.kernel.security.http import authenticate
from waddlebot.kernel.web import get_runtime, task_health


async def installation_admin(request: Request) -> Principal:
    """Superusers, admin-scoped keys and our own services; 401 without credentials, else 403."""
    principal = await authenticate(request)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid API key or login session is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not principal.installation_wide:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "installation admins only")
    return principal


def health_details_api() -> APIRouter:
    api = APIRouter(tags=["health"])

    @api.get("/api/health/v1/details", dependencies=[Depends(installation_admin)])
    async def details(request: Request) -> dict[str, Any]:
        runtime = get_runtime(request)
        services = getattr(request.app.state, "services", [])
        dependencies = await probe(runtime)
        workers_ok, _ = task_health(services)
        ready = (
            dependencies["database"].reachable
            and dependencies[backend_name(runtime)].reachable
            and workers_ok
        )
        try:
            platforms: dict[str, Any] = await installation_view(runtime.backend.kv)
        except Exception as error:  # Redis away: the rest of the page is what matters now
            platforms = {"error": f"the backend did not answer: {type(error).__name__}"}
        return {
            "status": "ready" if ready else "unavailable",
            "process": PROCESS,
            "services": sorted(service.name for service in services),
            "dependencies": {name: state.report() for name, state in dependencies.items()},
            "tasks": {
                name: health.report()
                for service in services
                for name, health in service.health.items()
            },
            "platforms": platforms,
            # in use / skipped by the background check, and the lag it measured
            "replicas": runtime.db.replica_states(),
        }

    return api
