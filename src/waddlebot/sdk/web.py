"""REST routes for built-in modules: ``module.api()`` is a FastAPI router the router service
mounts at ``/api/<module>/v1``; these dependencies give its routes the same authorisation
and data chat has.

    from waddlebot.sdk.web import Reader, database, needs

    api = module.api()

    @api.get("/communities/{community_id}/quotes")
    async def quotes(community_id: str, request: Request, _: Reader) -> list[QuoteOut]:
        return await QuoteBook(database(request)).listing(community_id)

    @api.delete("/communities/{community_id}/quotes/{number}")
    async def remove(community_id: str, number: int, request: Request,
                     who: Annotated[Principal, needs("memories.manage")]) -> None: ...

Reading needs the ``communities:read`` scope and, for people, a role in the community;
changing needs ``communities:write`` and the named permission there (the one chat checks).
Modules that keep their settings in ``ctx.storage`` reach the same keys with
``storage(request, module.name, community_id)``.

A :class:`waddlebot.kernel.errors.Refusal` raised anywhere becomes ``{"detail": message}``
with its status (404, 409, 422, …).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from waddlebot.kernel.backends import Backend
from waddlebot.kernel.errors import DependencyUnavailable
from waddlebot.kernel.scheduler.configured import job_store
from waddlebot.kernel.security.api_keys import Principal
from waddlebot.kernel.security.http import (
    authorize_principal,
    require_member,
    require_permission,
)
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.module_store import DatabaseDataStore
from waddlebot.kernel.web import get_runtime
from waddlebot.sdk.context import Host
from waddlebot.sdk.database import ModuleDatabase
from waddlebot.sdk.scheduling import SchedulerOperations
from waddlebot.sdk.secrets import SecretOperations
from waddlebot.sdk.storage import ModuleStorage

READ_SCOPE = "communities:read"
WRITE_SCOPE = "communities:write"

Reader = Annotated[Principal, Depends(require_member(READ_SCOPE))]
"""Anyone with a role in the community (and every installation-wide caller)."""


def needs(permission: str) -> Any:
    """A dependency: ``communities:write`` and ``permission`` in ``{community_id}``."""
    return Depends(require_permission(permission, scope=WRITE_SCOPE))


def reader_or(permission: str) -> Any:
    """A dependency for reads open to members and to holders of ``permission`` (a label)."""
    return Depends(require_member(READ_SCOPE, or_permission=permission))


def host(request: Request) -> Host:
    """Everything ``ctx.host`` offers in chat (labels, secrets, scheduler, configuration,
    triggers, …), for routes; served by the router process that hosts the modules."""
    found: Host | None = get_runtime(request).module_host
    if found is None:
        raise DependencyUnavailable("router", "module routes are served by the router service")
    return found


def database(request: Request) -> ModuleDatabase:
    """The installation's database, as ``ctx.database`` gives it in chat."""
    return get_runtime(request).db


def storage(request: Request, module: str, community_id: str) -> ModuleStorage:
    """``module``'s key-value storage in ``community_id``: the same rows and cache as
    ``ctx.storage`` in chat, so a value changed here is what the next chat command reads.
    Limits are refused with a 422 :class:`~waddlebot.sdk.storage.StorageRefused`."""
    runtime = get_runtime(request)
    return ModuleStorage(DatabaseDataStore(runtime.db, runtime.backend.kv), module, community_id)


def backend(request: Request) -> Backend:
    """Cache, queues and pub/sub (to invalidate what chat caches, or publish overlays)."""
    return get_runtime(request).backend


def settings(request: Request) -> Settings:
    return get_runtime(request).settings


def scheduler(request: Request) -> SchedulerOperations:
    """The durable scheduler (the module host's where there is one), e.g. to schedule or
    cancel the job of a record changed over REST."""
    runtime = get_runtime(request)
    found = runtime.module_host.scheduler() if runtime.module_host is not None else None
    return found if found is not None else job_store(runtime)


async def authorize(request: Request, principal: Principal, community_id: str, perm: str) -> None:
    """403 unless ``principal`` holds ``perm`` in the community (for checks that depend on
    the record, e.g. "your own, or with memories.manage")."""
    await authorize_principal(request, principal, community_id, perm)


def secrets(request: Request) -> SecretOperations:
    """Sealing for secrets a route stores (the same keys chat's ``ctx.host.secrets()`` uses)."""
    return get_runtime(request).settings.secret_box


def actor(principal: Principal) -> str:
    """Who acted, for ``created_by`` columns and AUDIT lines: the user id, else the key name."""
    return principal.user_id or principal.name


__all__ = [
    "READ_SCOPE",
    "WRITE_SCOPE",
    "Principal",
    "Reader",
    "actor",
    "authorize",
    "backend",
    "database",
    "host",
    "needs",
    "reader_or",
    "scheduler",
    "secrets",
    "settings",
    "storage",
]
