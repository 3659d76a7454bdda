"""Whether this process reaches what it depends on, and how fast: the database primary, each
read replica, and the backend (Redis, or the in-process memory backend).

Probed for ``/readyz`` and ``/api/health/v1/details`` when asked, and every
``PROBE_EVERY`` seconds in the background so Prometheus sees ``waddlebot_dependency_up``
even when nobody calls the health endpoints (the "database or Redis unreachable" alert).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from prometheus_client import Gauge

from waddlebot.kernel.backends.memory import MemoryBackend
from waddlebot.kernel.observability.metrics import REGISTRY

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from waddlebot.kernel.runtime import Runtime

PROBE_EVERY = 15.0  # seconds
PROBE_TIMEOUT = 3.0  # seconds: a dependency slower than this counts as unreachable

DEPENDENCY_UP = Gauge(
    "waddlebot_dependency_up",
    "1 when the dependency answered its last probe, else 0 (database, replica_N, redis, memory)",
    ["dependency"],
    registry=REGISTRY,
)
DEPENDENCY_SECONDS = Gauge(
    "waddlebot_dependency_latency_seconds",
    "How long the dependency's last probe took",
    ["dependency"],
    registry=REGISTRY,
)


@dataclass(frozen=True, slots=True)
class DependencyState:
    reachable: bool
    latency_ms: float

    def report(self) -> dict[str, object]:
        return asdict(self)


async def _timed(name: str, ping: Callable[[], Awaitable[bool]]) -> DependencyState:
    started = time.perf_counter()
    try:
        reachable = await asyncio.wait_for(ping(), PROBE_TIMEOUT)
    except Exception:  # a timeout, or a ping that raised instead of answering False
        reachable = False
    seconds = time.perf_counter() - started
    DEPENDENCY_UP.labels(name).set(1 if reachable else 0)
    DEPENDENCY_SECONDS.labels(name).set(seconds)
    return DependencyState(reachable, round(seconds * 1000, 2))


def backend_name(runtime: Runtime) -> str:
    return "memory" if isinstance(runtime.backend, MemoryBackend) else "redis"


async def probe(runtime: Runtime) -> dict[str, DependencyState]:
    """Probe every dependency concurrently; also updates the gauges."""
    db = runtime.db
    checks: dict[str, Callable[[], Awaitable[bool]]] = {
        "database": db.ping,
        backend_name(runtime): runtime.backend.ping,
    }
    for number, replica in enumerate(db.replicas):
        checks[f"replica_{number}"] = lambda engine=replica: db.ping(engine)  # type: ignore[misc]
    states = await asyncio.gather(*(_timed(name, ping) for name, ping in checks.items()))
    return dict(zip(checks, states, strict=True))


async def probe_forever(runtime: Runtime, every: float = PROBE_EVERY) -> None:
    """Keep the dependency gauges current until cancelled."""
    while True:
        await probe(runtime)
        await asyncio.sleep(every)
