"""FastAPI dependencies that authenticate callers and authorise them by scope."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request, status
from starlette.requests import HTTPConnection

from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.security.api_keys import Principal, verify_api_key
from waddlebot.kernel.security.rbac import Actor, Authorizer, Decision
from waddlebot.kernel.security.service_tokens import verify_service_token
from waddlebot.kernel.security.sessions import COOKIE_NAME, SessionStore
from waddlebot.kernel.storage.models import User
from waddlebot.kernel.web import get_runtime

logger = get_logger(__name__)


def presented_key(request: HTTPConnection) -> str | None:
    """The credential from ``Authorization: Bearer …`` or ``X-API-Key``."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


async def authenticate(request: HTTPConnection) -> Principal | None:
    """The caller's principal, or None when no valid credential was presented.

    In order: a service token or API key (a presented but invalid key is not rescued by a
    cookie), the login-session cookie, then Kong's consumer headers when trusted.
    """
    runtime = get_runtime(request)
    key = presented_key(request)
    if key is not None:
        service = verify_service_token(runtime.settings.resolved_secret_key, key)
        if service is not None:
            return Principal(name=service, scopes=frozenset(), kind="service")
        return await verify_api_key(runtime.db, key, runtime.keys)
    token = request.cookies.get(COOKIE_NAME)
    if token:
        return await _session_principal(request, token)
    if runtime.settings.trust_kong_headers:
        return await _kong_principal(request)
    return None


async def _session_principal(request: HTTPConnection, token: str) -> Principal | None:
    """The logged-in person behind the session cookie (inactive users are refused)."""
    runtime = get_runtime(request)
    store = SessionStore(runtime.backend.kv, ttl=runtime.settings.login_session_ttl)
    found = await store.get(token)
    if found is None:
        return None
    async with runtime.db.read_session(fresh=True) as session:  # disabled counts at once
        user = await session.get(User, found.user_id)
    if user is None or not user.is_active:
        return None
    return Principal(
        name=user.email or user.display_name,
        scopes=frozenset(),
        kind="session",
        user_id=user.id,
        superuser=user.is_superuser,
    )


def _from_trusted_proxy(request: HTTPConnection) -> bool:
    peer = request.client.host if request.client else None
    if peer is None:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(cidr, strict=False)
        for cidr in get_runtime(request).settings.kong_trusted_proxies
    )


async def _kong_principal(request: HTTPConnection) -> Principal | None:
    """A consumer Kong authenticated, believed only from a configured proxy address."""
    headers = request.headers
    if not _from_trusted_proxy(request):
        return None
    if headers.get("x-anonymous-consumer", "").strip().lower() == "true":
        return None
    name = headers.get("x-consumer-username") or headers.get("x-consumer-id")
    if not name:
        return None
    scopes = frozenset(
        group.strip() for group in headers.get("x-consumer-groups", "").split(",") if group.strip()
    )
    user: User | None = None
    custom_id = headers.get("x-consumer-custom-id")
    if custom_id:
        async with get_runtime(request).db.read_session() as session:
            user = await session.get(User, custom_id[:64])
        if user is not None and not user.is_active:
            return None
    return Principal(
        name=f"kong:{name}",
        scopes=scopes,
        kind="kong",
        user_id=user.id if user is not None else None,
        superuser=bool(user and user.is_superuser),
    )


def require_scope(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits only callers holding ``scope`` (401 unknown, 403 not allowed)."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if principal is None:
            log_event(logger, Category.AUTH, request.url.path, "denied", reason="no valid key")
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid API key or login session is required "
                "(Authorization: Bearer …, X-API-Key or the session cookie)",
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


def require_member(
    scope: str, *, or_permission: str | None = None
) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency for reading under ``{community_id}``: ``scope``, and for people some role
    in that community (or ``or_permission`` there, e.g. granted by a label)."""

    async def dependency(request: Request) -> Principal:
        principal = await require_scope(scope)(request)
        community_id = request.path_params.get("community_id")
        if not isinstance(community_id, str):
            raise RuntimeError("require_member is for routes with a {community_id}")
        decision = await decide(
            request, principal, community_id, permission=or_permission, member=True
        )
        if not decision.allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "you have no role in this community")
        return principal

    return dependency


# The dependency factories above: a route depending on what one of them returns asks for a
# principal (an API key, a session or a trusted Kong consumer) before its body runs.
_GUARDS = frozenset({"require_scope", "require_permission", "require_member"})


def guards_principal(call: object) -> bool:
    """True when ``call`` is a dependency made by one of this module's guards; the gateway
    config (``waddlebot.gateway``) puts Kong's key check on exactly those routes."""
    qualname = str(getattr(call, "__qualname__", ""))
    return getattr(call, "__module__", None) == __name__ and qualname.split(".")[0] in _GUARDS


async def decide(
    request: Request,
    principal: Principal,
    community_id: str,
    *,
    permission: str | None,
    member: bool = False,
) -> Decision:
    """The REST decision for ``principal`` in a community (logged, AUTHZ); the portal uses it
    too, so a page and its endpoint can never disagree."""
    runtime = get_runtime(request)
    actor = Actor(user_id=principal.user_id, superuser=not principal.community_bound, via="rest")
    action = f"{request.method} {request.url.path}"
    return await Authorizer(runtime.db, runtime.backend.kv).check(
        actor, community_id, action, permission=permission, member=member
    )


async def authorize_principal(
    request: Request, principal: Principal, community_id: str, permission: str
) -> None:
    """Raise 403 unless ``principal`` holds ``permission`` in the community."""
    decision = await decide(request, principal, community_id, permission=permission)
    if not decision.allowed:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"you need the {permission!r} permission in this community",
        )
