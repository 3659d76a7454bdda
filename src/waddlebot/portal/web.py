"""The portal's frame: who is looking, CSRF, the Content-Security-Policy, rendering, errors.

Every page is rendered server-side by Jinja2 with autoescape on. A response carries a CSP
with a fresh nonce (the only scripts that run are ours, loaded with that nonce), and every
state-changing request must carry the CSRF token: a signed double-submit token bound to a
random cookie *and* the login session, sent as a form field or the ``X-CSRF-Token`` header
(htmx). Who may see a page is decided by :func:`waddlebot.kernel.security.http.decide`, the
same function the REST API's dependencies call.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape

from waddlebot.communities.manager import Acting, CommunityManager, CommunityView
from waddlebot.kernel.errors import Refusal
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.security.api_keys import Principal
from waddlebot.kernel.security.http import authenticate, decide
from waddlebot.kernel.security.rbac import PERMISSIONS, Authorizer
from waddlebot.kernel.security.sessions import COOKIE_NAME, cookie_secure
from waddlebot.kernel.web import get_runtime

logger = get_logger(__name__)

PREFIX = "/portal"
CSRF_COOKIE = "waddlebot_portal_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_FORM = 64 * 1024

# Each community page and the permission it needs (the link is shown only to holders).
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("commands", "Commands", "commands.manage"),
    ("members", "Members and roles", "members.manage"),
    ("labels", "Labels", "labels.manage"),
    ("modules", "Modules", "modules.install"),
    ("overlays", "Overlays", "overlays.manage"),
    # interaction modules (module_pages.py)
    ("quotes", "Quotes", "memories.manage"),
    ("reminders", "Reminders", ""),  # "": anyone with a role there
    ("inventory", "Inventory", "inventory.manage"),
    ("calendar", "Calendar", "calendar.approve"),
    ("shoutouts", "Shoutouts", "shoutouts.manage"),
    ("ai", "AI chat", "ai.manage"),  # ai_page.py
    ("music", "Music", "music.manage"),  # music_page.py
    ("audit", "Audit", "members.manage"),
)


class NotLoggedIn(Exception):
    """No login session: the page sends the browser to the login form."""


@cache
def environment() -> Environment:
    """The template environment; autoescape everywhere (also for non-.html names)."""
    env = Environment(
        loader=PackageLoader("waddlebot.portal", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["prefix"] = PREFIX
    env.globals["csrf_field"] = CSRF_FIELD
    return env


@dataclass
class Viewer:
    """The person looking at the portal (always a login session)."""

    principal: Principal
    user_id: str
    name: str

    @property
    def superuser(self) -> bool:
        return self.principal.superuser


@dataclass
class Here:
    """A community page: which community, and what the viewer may do there."""

    community: CommunityView
    allowed: frozenset[str] = field(default_factory=frozenset)
    role: str | None = None

    @property
    def sections(self) -> list[tuple[str, str]]:
        return [
            (slug, title)
            for slug, title, perm in SECTIONS
            if perm in self.allowed or (not perm and self.role is not None)
        ]


def runtime_of(request: Request) -> Runtime:
    return get_runtime(request)


def community_manager(request: Request) -> CommunityManager:
    runtime = runtime_of(request)
    return CommunityManager(
        runtime.db,
        runtime.backend.kv,
        runtime.backend.pubsub,
        default_timezone=runtime.settings.default_timezone,
    )


# --- who is looking -----------------------------------------------------------------------


async def optional_viewer(request: Request) -> Viewer | None:
    """The logged-in person, from the session cookie only (keys are for the API)."""
    if not request.cookies.get(COOKIE_NAME):
        return None
    principal = await authenticate(request)
    if principal is None or principal.kind != "session" or principal.user_id is None:
        return None
    return Viewer(principal=principal, user_id=principal.user_id, name=principal.name)


async def require_viewer(request: Request) -> Viewer:
    """A dependency: the logged-in person, else a redirect to the login form."""
    viewer = await optional_viewer(request)
    if viewer is None:
        raise NotLoggedIn()
    request.state.viewer = viewer
    return viewer


Who = Annotated[Viewer, Depends(require_viewer)]


async def enter_community(
    request: Request, viewer: Viewer, community_id: str, permission: str | None = None
) -> Here:
    """Check the viewer may see this community page (403 otherwise), with the REST rule:
    some role there for the home page, ``permission`` for the others."""
    decision = await decide(
        request,
        viewer.principal,
        community_id,
        permission=permission,
        member=permission is None,
    )
    if not decision.allowed:
        if permission is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "You have no role in this community.")
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"You need the {permission} permission in this community to open this page.",
        )
    community = await community_manager(request).community(community_id, viewer.user_id)
    if not viewer.principal.community_bound:
        allowed = frozenset(PERMISSIONS)
        role = community.role
    else:
        runtime = runtime_of(request)
        access = await Authorizer(runtime.db, runtime.backend.kv).access(
            community_id, viewer.user_id
        )
        role = access.community_role
        # the same rule as Authorizer.check: owners hold every permission
        allowed = frozenset(PERMISSIONS) if role == "owner" else access.permissions
    here = Here(community=community, allowed=allowed, role=role)
    request.state.here = here
    return here


async def acting(request: Request, viewer: Viewer, community_id: str) -> Acting:
    """The viewer's standing for the managers' rank rules (as the communities API)."""
    if not viewer.principal.community_bound:
        return Acting(
            who=viewer.user_id, user_id=viewer.user_id, installation_wide=True, via="portal"
        )
    return await community_manager(request).acting(community_id, viewer.user_id, via="portal")


def audit(request: Request, action: str, outcome: str = "ok", **fields: Any) -> None:
    """Log a portal action (AUDIT) with the acting user."""
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    log_event(
        logger,
        Category.AUDIT,
        f"portal_{action}",
        outcome,
        user=viewer.user_id if viewer else None,
        via="portal",
        **fields,
    )


# --- CSRF -----------------------------------------------------------------------------------


def _csrf_seed(request: Request) -> str:
    """The random CSRF cookie of this browser (made on first use, set by :func:`render`)."""
    seed: str | None = getattr(request.state, "csrf_seed", None)
    if seed is None:
        seed = request.cookies.get(CSRF_COOKIE) or ""
        if not (16 <= len(seed) <= 100):
            seed = secrets.token_urlsafe(24)
            request.state.csrf_new = True
        request.state.csrf_seed = seed
    return seed


def csrf_token(request: Request) -> str:
    """The token forms carry: HMAC(secret, cookie seed + login session)."""
    secret = runtime_of(request).settings.resolved_secret_key
    session = request.cookies.get(COOKIE_NAME, "")
    message = f"portal-csrf|{_csrf_seed(request)}|{hashlib.sha256(session.encode()).hexdigest()}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


async def read_form(request: Request) -> dict[str, list[str]]:
    """A URL-encoded form (what browsers and htmx send), after checking its CSRF token.

    Refuses (403) a request without a valid token, and (415) other content types.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/x-www-form-urlencoded", ""):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "Send the form as a web page does."
        )
    body = await request.body()
    if len(body) > MAX_FORM:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "This form is too large.")
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "This form could not be read.") from None
    presented = request.headers.get(CSRF_HEADER) or (fields.get(CSRF_FIELD) or [""])[0]
    valid = bool(request.cookies.get(CSRF_COOKIE)) and hmac.compare_digest(
        presented.encode(), csrf_token(request).encode()
    )
    if not valid:
        log_event(
            logger, Category.AUTH, f"{request.method} {request.url.path}", "denied", reason="csrf"
        )
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "This form expired or did not come from this site. Reload the page and try again.",
        )
    return fields


def one(fields: Mapping[str, list[str]], name: str, limit: int = 2000) -> str:
    """One field's value ('' when missing), cut at ``limit`` characters."""
    values = fields.get(name) or [""]
    return values[0][:limit]


# --- rendering ------------------------------------------------------------------------------


def _security_headers(request: Request, nonce: str) -> dict[str, str]:
    csp = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "Cache-Control": "no-store",
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }


def _finish(request: Request, response: Response) -> Response:
    """Set the CSRF cookie when this browser has none yet."""
    if getattr(request.state, "csrf_new", False):
        response.set_cookie(
            CSRF_COOKIE,
            _csrf_seed(request),
            httponly=True,
            samesite="lax",
            secure=cookie_secure(runtime_of(request).settings.public_url),
            path=PREFIX,
        )
    return response


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    """A page (or an htmx fragment) from ``templates/NAME``, with the CSP and its nonce."""
    nonce = secrets.token_urlsafe(16)
    values: dict[str, Any] = {
        "request": request,
        "nonce": nonce,
        "csrf": csrf_token(request),
        "viewer": getattr(request.state, "viewer", None),
        "here": getattr(request.state, "here", None),
        "providers": [],
    }
    values.update(context or {})
    html = environment().get_template(name).render(values)
    response = HTMLResponse(
        html, status_code=status_code, headers=_security_headers(request, nonce)
    )
    _finish(request, response)
    return response


def redirect(request: Request, path: str) -> Response:
    """303 See Other to a portal path (after a form POST: reloading never re-posts)."""
    return _finish(request, RedirectResponse(PREFIX + path, status_code=status.HTTP_303_SEE_OTHER))


def login_redirect(request: Request) -> Response:
    target = request.url.path
    if request.method != "GET" or not target.startswith(PREFIX):
        target = PREFIX + "/communities"
    return redirect(request, f"/login?next={quote(target, safe='/')}")


def error_page(request: Request, code: int, message: str) -> Response:
    titles = {403: "Not allowed", 404: "Not found", 429: "Too many attempts"}
    return render(
        request,
        "error.html",
        {"title": titles.get(code, "Something went wrong"), "message": message, "code": code},
        status_code=code,
    )


class PortalRoute(APIRoute):
    """A route whose refusals are pages (not JSON) and whose anonymous visitors log in first."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except NotLoggedIn:
                return login_redirect(request)
            except HTTPException as failure:
                return error_page(request, failure.status_code, str(failure.detail))
            except Refusal as refusal:
                return error_page(request, refusal.status, refusal.message)

        return handler
