"""What a process opens once and every service shares: settings, database, backend, clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from waddlebot.kernel.backends import Backend, open_backend
from waddlebot.kernel.contracts import EventIngress
from waddlebot.kernel.http_clients import http_client
from waddlebot.kernel.objects import ObjectStore, open_object_store
from waddlebot.kernel.security.key_cache import VerifiedKeys
from waddlebot.kernel.security.service_tokens import service_headers
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database


@dataclass
class Runtime:
    """Shared resources of one process. Services receive it at start-up."""

    settings: Settings
    db: Database
    backend: Backend
    owns_backend: bool = True
    local_app: Any = None  # the ASGI app of this process, for in-process service calls
    local_services: set[str] = field(default_factory=set)
    # The router's host (``sdk.context.Host``), for built-in modules' REST routes; None
    # where no router runs.
    module_host: Any = None
    # The router's in-process ingress (set by the router service that runs here): collectors
    # in this process hand it their events instead of POSTing them to ourselves.
    event_ingress: EventIngress | None = None
    # API keys verified lately (kernel/security/key_cache.py); follows revocations on pub/sub
    keys: VerifiedKeys = field(default_factory=VerifiedKeys)
    _clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    _objects: ObjectStore | None = None

    @classmethod
    async def open(cls, settings: Settings, backend: Backend | None = None) -> Runtime:
        """Open the configured database and backend (or share ``backend``, left open on close)."""
        db = Database(
            settings.resolved_database_url,
            settings.database_replica_urls,
            replica_max_lag=settings.database_replica_max_lag,
        )
        db.start()  # replicas serve reads once the background check vouches for them
        if backend is not None:
            return cls(
                settings=settings,
                db=db,
                backend=backend,
                owns_backend=False,
                keys=VerifiedKeys(backend.pubsub),
            )
        opened = await open_backend(settings.redis_url, namespace=settings.redis_namespace)
        return cls(settings=settings, db=db, backend=opened, keys=VerifiedKeys(opened.pubsub))

    @property
    def objects(self) -> ObjectStore:
        """The object store (``kernel/objects``), opened on first use: a process that never
        stores a file never loads botocore."""
        if self._objects is None:
            self._objects = open_object_store(self.settings)
        return self._objects

    def client(self, service: str, *, caller: str) -> httpx.AsyncClient:
        """An HTTP client for ``service``, authenticated as ``caller``.

        The same client code runs in both modes: a configured ``<service>_url`` sends real HTTP;
        a service mounted in this process is reached through an in-process ASGI transport.
        """
        key = f"{caller}->{service}"
        if key in self._clients:
            return self._clients[key]
        headers = service_headers(self.settings.resolved_secret_key, caller)
        url = getattr(self.settings, f"{service}_url", None)
        if url:
            client = http_client(base_url=url, headers=headers, timeout=10.0)
        elif service in self.local_services and self.local_app is not None:
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self.local_app),
                base_url="http://waddlebot.internal",
                headers=headers,
                timeout=10.0,
            )
        else:
            raise RuntimeError(
                f"service {service!r} is not in this process: set WADDLEBOT_{service.upper()}_URL"
            )
        self._clients[key] = client
        return client

    def local_ingress(self) -> EventIngress | None:
        """The router's ingress in this process, unless a router URL sends events elsewhere
        (the same precedence :meth:`client` gives a configured URL)."""
        return None if self.settings.router_url else self.event_ingress

    async def close(self) -> None:
        await self.keys.stop()
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        if self._objects is not None:
            await self._objects.close()
            self._objects = None
        if self.owns_backend:
            await self.backend.close()
        await self.db.close()
