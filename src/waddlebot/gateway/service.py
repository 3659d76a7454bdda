"""``waddlebot serve kong-broker``: the Kong Admin Broker's process.

No HTTP routes of its own beyond the probes; one supervised loop runs a reconcile pass
(``broker.py``) whenever a key is created or revoked (pub/sub ``gateway:keys-changed``) and
at least every ``WADDLEBOT_KONG_RECONCILE_INTERVAL`` seconds (expiry, drift, missed wakes).
Kong unreachable raises, so the supervisor retries with backoff and ``/readyz`` answers 503
naming the task and the error until a pass succeeds again. Without
``WADDLEBOT_KONG_ADMIN_URL`` (e.g. inside ``waddlebot up``) the broker does nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from fastapi import APIRouter

from waddlebot.gateway.broker import reconcile, wanted_consumers
from waddlebot.gateway.kong_admin import KongAdmin
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.security.key_copies import KEYS_CHANGED
from waddlebot.kernel.service import Service
from waddlebot.kernel.supervision import report_healthy

logger = get_logger(__name__)


class KongBrokerService(Service):
    name = "kong-broker"

    def __init__(self) -> None:
        super().__init__()
        self._runtime: Runtime | None = None
        self._warned: tuple[int, int] = (0, 0)

    def api(self) -> APIRouter:
        return APIRouter()

    async def start(self, runtime: Runtime) -> None:
        self._runtime = runtime
        if runtime.settings.kong_admin_url:
            self.spawn("reconcile", self._loop)

    async def _loop(self) -> None:
        assert self._runtime is not None
        settings = self._runtime.settings
        assert settings.kong_admin_url is not None
        async with httpx.AsyncClient(
            base_url=settings.kong_admin_url, timeout=settings.kong_admin_timeout
        ) as client:
            admin = KongAdmin(client)
            pubsub = self._runtime.backend.pubsub
            async with pubsub.subscribe(KEYS_CHANGED) as changes:
                while True:
                    await self.run_pass(admin)
                    report_healthy()
                    # The next pass: when a key is created or revoked, else after the interval.
                    if await changes.get(settings.kong_reconcile_interval) is not None:
                        while await changes.get(0.05) is not None:
                            pass  # a burst of changes is one pass

    async def run_pass(self, admin: KongAdmin) -> None:
        """One reconcile pass, logged when it changed something or keys cannot be synced."""
        assert self._runtime is not None
        now = datetime.now(UTC)
        wanted = await wanted_consumers(self._runtime.db, self._runtime.settings.secret_box, now)
        report = await reconcile(admin, wanted.consumers, now)
        if report.changed:
            log_event(
                logger,
                Category.AUDIT,
                "kong_consumers_reconciled",
                "ok",
                created=report.created,
                repaired=report.repaired,
                deleted=report.deleted,
                unchanged=report.unchanged,
            )
        missing = (wanted.uncopied, wanted.unreadable)
        if missing != self._warned and any(missing):
            log_event(
                logger,
                Category.SYSTEM,
                "kong_keys_not_synced",
                "skipped",
                level="warning",
                without_copy=wanted.uncopied,
                unreadable=wanted.unreadable,
                hint="keys created while WADDLEBOT_KONG_CONSUMERS was off have no copy: "
                "re-create them; unreadable copies need their encryption key back",
            )
        self._warned = missing
