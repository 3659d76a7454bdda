"""What every service serves, read from its FastAPI routes: the paths, and which of them Kong
should guard with a key (those whose FastAPI dependencies ask for a principal)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from waddlebot.kernel.security.http import guards_principal

# Served to the cluster's probes and Prometheus, never published through a gateway.
INTERNAL_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

Group = Literal["api", "public", "webhooks"]


@dataclass(frozen=True, slots=True, order=True)
class ServedPath:
    """One path a service answers (a FastAPI template such as ``/overlay/{token}``)."""

    path: str
    service: str
    keyed: bool  # a FastAPI dependency asks for a principal: Kong checks the key first

    @property
    def group(self) -> Group:
        """The gateway's route group: its own rate and size limits."""
        if self.keyed:
            return "api"
        return "webhooks" if self.path.startswith("/webhooks/") else "public"

    @property
    def sample(self) -> str:
        """A concrete request path the template matches (``{name:path}`` spans segments)."""
        return re.sub(r"\{[^}:]+:path\}", "x/y", re.sub(r"\{[^}:]+\}", "x", self.path))


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI ≥ 0.16x: included routers
        if inner is not None:
            yield from _walk(inner.routes, prefix + route.include_context.prefix)
        elif isinstance(getattr(route, "path", None), str):
            yield prefix + route.path, route


def _keyed(dependant: Any) -> bool:
    """True when the route's dependency tree holds one of ``kernel/security/http``'s guards."""
    if dependant is None:
        return False
    return any(guards_principal(sub.call) or _keyed(sub) for sub in dependant.dependencies)


def served_paths(service: str) -> list[ServedPath]:
    """Every HTTP and WebSocket path ``waddlebot serve <service>`` answers, probes aside.

    A path answered by several routes (methods) is keyed when any of them is: Kong routes by
    path, so the stricter rule wins.
    """
    from waddlebot.app import SERVICES

    keyed: dict[str, bool] = {}
    routes = [route for router in SERVICES[service]().routers() for route in router.routes]
    for path, route in _walk(routes):
        if path not in INTERNAL_PATHS:
            keyed[path] = keyed.get(path, False) or _keyed(getattr(route, "dependant", None))
    return sorted(ServedPath(path, service, guarded) for path, guarded in keyed.items())


def all_served_paths() -> list[ServedPath]:
    """:func:`served_paths` of every service in ``waddlebot.app.SERVICES``."""
    from waddlebot.app import SERVICES

    return sorted(path for service in SERVICES for path in served_paths(service))
