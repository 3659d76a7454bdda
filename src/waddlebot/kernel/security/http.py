"""FastAPI dependencies that authenticate callers and authorise them by scope."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request, status

from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.security.api_keys import ADMIN_SCOPE, Principal, verify_api_key
from waddlebot.kernel.security.rbac import Actor, Authorizer
from waddlebot.kernel.security.service_tokens import verify_service_token
from waddlebot.kernel.web import get_runtime

logger = get_logger(__name__)


def presented_key(request: Request) -> str | None:
    """The credential from ``Authorization: Bearer …`` or ``X-API-Key``."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


async def authenticate(request: Request) -> Principal | None:
    """The caller's principal, or None when no valid credential was presented."""
    key = presented_key(request)
    if key is None:
        return None
    runtime = get_runtime(request)
    service = verify_service_token(runtime.settings.resolved_secret_key, key)
    if service is not None:
        return Principal(name=service, scopes=frozenset(), kind="service")
    return await verify_api_key(runtime.db, key)


def require_scope(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits only callers holding ``scope`` (401 unknown, 403 not allowed)."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if principal is None:
            log_event(logger, Category.AUTH, request.url.path, "denied", reason="no valid key")
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid API key is required (Authorization: Bearer … or X-API-Key)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not principal.allows(scope):
            log_event(
                logger, Category.AUTHZ, request.url.path, "denied", user=principal.name, scope=scope
            )
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this key lacks the {scope!r} scope")
        return principal

    return dependency


def require_permission(permission: str, *, scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency for routes under ``{community_id}``: the caller needs ``scope`` and, when
    they are a user (session, or a key a user owns), ``permission`` in that community.

    Installation-wide callers (our services, admin keys, superusers) and operator keys without
    an owner pass on the scope alone. Every decision is logged (AUTHZ) by the authorizer.
    """

    async def dependency(request: Request) -> Principal:
        principal = await require_scope(scope)(request)
        community_id = request.path_params.get("community_id")
        if not isinstance(community_id, str):
            raise RuntimeError("require_permission is for routes with a {community_id}")
        await authorize_principal(request, principal, community_id, permission)
        return principal

    return dependency


async def authorize_principal(
    request: Request, principal: Principal, community_id: str, permission: str
) -> None:
    """Raise 403 unless ``principal`` holds ``permission`` in the community."""
    runtime = get_runtime(request)
    actor = Actor(user_id=principal.user_id, superuser=not principal.community_bound, via="rest")
    action = f"{request.method} {request.url.path}"
    decision = await Authorizer(runtime.db, runtime.backend.kv).check(
        actor, community_id, action, permission=permission
    )
    if not decision.allowed:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"you need the {permission!r} permission in this community",
        )


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def is_local_operator(request: Request) -> bool:
    """A loopback caller of a loopback-bound server: the operator at the machine."""
    client = request.client.host if request.client else None
    return get_runtime(request).settings.is_loopback_bind and is_loopback(client)


async def require_local_or_admin(request: Request) -> None:
    """Operator-only pages (playground, bot login): open to the local operator, else admin."""
    if not is_local_operator(request):
        await require_scope(ADMIN_SCOPE)(request)
