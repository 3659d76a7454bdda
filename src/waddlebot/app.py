"""Compose services into one ASGI app: all of them for ``waddlebot up``, one for ``serve``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from waddlebot import __version__
from waddlebot.accounts.service import AccountsService
from waddlebot.collectors.discord.gateway import DiscordGatewayService
from waddlebot.collectors.discord.service import DiscordService
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.collectors.slack.service import SlackService
from waddlebot.collectors.twitch.module_api import module_twitch
from waddlebot.collectors.twitch.service import TwitchService
from waddlebot.communities.service import CommunitiesService
from waddlebot.gateway.service import KongBrokerService
from waddlebot.identity.service import IdentityService
from waddlebot.kernel.audit import AuditStore
from waddlebot.kernel.backends import Backend
from waddlebot.kernel.coordination.api import coordination_api
from waddlebot.kernel.errors import Refusal
from waddlebot.kernel.observability.dependencies import probe_forever
from waddlebot.kernel.observability.health_details import health_details_api
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH
from waddlebot.kernel.outages import unavailable_errors
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.service import Service
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.web import (
    BodyLimit,
    CrashGuard,
    ReadYourWrites,
    RequestId,
    health_api,
    refusal_answer,
    unavailable_answer,
    validation_answer,
)
from waddlebot.labels.service import LabelsService
from waddlebot.marketplace.service import MarketplaceService
from waddlebot.overlays.service import OverlayService
from waddlebot.portal.service import PortalService
from waddlebot.router.host import standalone_host
from waddlebot.router.service import RouterService

logger = get_logger(__name__)

SERVICES: dict[str, Callable[[], Service]] = {
    "router": lambda: RouterService(twitch=module_twitch()),
    "playground": PlaygroundService,
    "slack": SlackService,
    "discord": DiscordService,
    "discord-gateway": DiscordGatewayService,
    "marketplace": MarketplaceService,
    "twitch": TwitchService,
    "overlays": OverlayService,
    "identity": IdentityService,
    "accounts": AccountsService,
    "communities": CommunitiesService,
    "labels": LabelsService,
    "portal": lambda: PortalService(host=partial(standalone_host, twitch=module_twitch())),
    "kong-broker": KongBrokerService,
}


def create_app(
    settings: Settings,
    services: list[str] | None = None,
    *,
    instances: list[Service] | None = None,
    backend: Backend | None = None,
    migrate: bool = True,
    freeze_heap: bool = False,
) -> FastAPI:
    """An app mounting ``services`` (default: all).

    ``instances`` overrides how services are built and ``backend`` shares an already open
    backend between apps; tests use both to run several "processes" on one machine.
    ``freeze_heap`` (``waddlebot up``/``serve``, one app per process): once started, every
    object start-up made (imported modules, the app, its services: about 240,000) is moved
    out of the cyclic garbage collector's sight with :func:`gc.freeze`. They live as long as
    the process, yet each full collection walked them all: 100+ ms on the event loop, about
    every second under load, 14 % of a router's CPU on PostgreSQL + Redis (measured).
    """
    chosen = (
        instances if instances is not None else [SERVICES[name]() for name in services or SERVICES]
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _ = settings.resolved_secret_key  # create it now: fail at start, not on first use
        runtime = await Runtime.open(settings, backend)
        runtime.local_app = app
        runtime.local_services = {service.name for service in chosen}
        app.state.runtime = runtime
        app.state.services = chosen
        started: list[Service] = []
        audit = AuditStore(runtime.db, retention_days=settings.audit_retention_days)
        prober: asyncio.Future[Any] | None = None
        try:
            if migrate:
                await runtime.db.migrate()
            audit.install()
            runtime.keys.start()  # forget API keys other processes revoke
            for service in chosen:
                await service.start(runtime)
                started.append(service)
            prober = asyncio.gather(
                probe_forever(runtime), PLATFORM_HEALTH.publish_forever(runtime.backend.kv)
            )
            log_event(
                logger,
                Category.SYSTEM,
                "started",
                "ok",
                services=sorted(runtime.local_services),
                version=__version__,
            )
            if freeze_heap:
                gc.freeze()
            yield
        finally:
            if prober is not None:
                prober.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await prober
            for service in reversed(started):
                await service.stop()
            await audit.stop()
            await runtime.close()
            log_event(logger, Category.SYSTEM, "stopped", "ok")

    app = FastAPI(title="WaddleBot", version=__version__, lifespan=lifespan)
    app.add_exception_handler(Refusal, refusal_answer)
    app.add_exception_handler(RequestValidationError, validation_answer)
    app.add_middleware(ReadYourWrites)  # a client that just wrote reads the primary
    app.add_middleware(BodyLimit)
    app.add_middleware(CrashGuard)
    app.add_middleware(RequestId)  # outermost: even a crash's line carries the request id
    drivers = {
        "cache": bool(settings.redis_url),
        "postgres": bool(settings.database_url)
        and settings.resolved_database_url.startswith("postgresql"),
    }
    for outage in unavailable_errors(**drivers):  # Redis / database away: 503 + Retry-After
        app.add_exception_handler(outage, unavailable_answer)
    for service in chosen:  # the routes chat traffic takes are matched first
        chat = service.chat_api()
        if chat is not None:
            app.include_router(chat)
    app.include_router(health_api())
    app.include_router(health_details_api())
    app.include_router(coordination_api())
    for service in chosen:
        app.include_router(service.api())
    return app
