"""HTTP plumbing every service shares: runtime access, health, readiness and metrics, and the
edge every request passes: body size limits, the 422 and 500 answers."""

from __future__ import annotations

import math
import re
import time
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from waddlebot.kernel.errors import Refusal
from waddlebot.kernel.ids import new_id
from waddlebot.kernel.observability.dependencies import backend_name, probe
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.metrics import DEPENDENCY_UNAVAILABLE, REGISTRY
from waddlebot.kernel.outages import as_unavailable
from waddlebot.kernel.storage.database import WriteMark, following_request

if TYPE_CHECKING:
    from waddlebot.kernel.runtime import Runtime
    from waddlebot.kernel.service import Service

logger = get_logger(__name__)
RETRY_AFTER_SECONDS = 5  # what a 503 asks clients (and webhook platforms) to wait
LOG_503_EVERY = 10.0  # seconds: an outage refusing many requests logs one line per period
_quiet: dict[str, tuple[float, int]] = {}  # dependency → (last logged, 503s not logged since)

logger = get_logger(__name__)

MAX_BODY = 1024 * 1024
"""Bytes a JSON API request body may have (an ingress batch included)."""
MAX_WEBHOOK_BODY = 256 * 1024
"""Bytes a platform webhook body may have: Twitch, Slack and Discord send a few KiB."""
MAX_UPLOAD_BODY = 33 * 1024 * 1024
"""Bytes a file upload may send (multipart); the endpoint enforces its own, smaller setting
with a 422, this only bounds what is read at all."""
BODY_LIMITS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"/webhooks/"), MAX_WEBHOOK_BODY),
    (re.compile(r"/api/browser-sources/v1/communities/[^/]+/media$"), MAX_UPLOAD_BODY),
)
LISTED_ERRORS = 20
SHOWN_IN_DETAIL = 3
MAX_FIELD = 100
MAX_MESSAGE = 200


def get_runtime(request: HTTPConnection) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def refusal_answer(request: Request, error: Exception) -> JSONResponse:
    """Any :class:`Refusal` a manager raises, as ``{"detail": message}`` with its status."""
    assert isinstance(error, Refusal)
    return JSONResponse({"detail": error.message}, status_code=error.status)


async def unavailable_answer(request: Request, error: Exception) -> JSONResponse:
    """Any dependency outage (``kernel/outages.py``) as 503 with ``Retry-After``.

    Nothing was accepted: the caller (or the platform redelivering a webhook) retries later.
    A driver error that is not an outage (e.g. a constraint violation) goes on as a 500.
    """
    outage = as_unavailable(error)
    if outage is None:
        raise error
    DEPENDENCY_UNAVAILABLE.labels(outage.dependency).inc()
    suppressed = _quiet.pop(outage.dependency, None)
    now = time.monotonic()
    if suppressed is not None and now - suppressed[0] < LOG_503_EVERY:
        _quiet[outage.dependency] = (suppressed[0], suppressed[1] + 1)
    else:  # the first 503 of an outage, then one line per LOG_503_EVERY with the count
        _quiet[outage.dependency] = (now, 0)
        log_event(
            logger,
            Category.ERROR,
            "dependency_unavailable",
            "503",
            level="warning",
            dependency=outage.dependency,
            path=request.url.path,
            error=outage.detail,
            also_refused=suppressed[1] if suppressed else 0,
        )
    return JSONResponse(
        {"detail": f"temporarily unavailable ({outage.dependency}); retry shortly"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def task_health(services: list[Service]) -> tuple[bool, dict[str, dict[str, object]]]:
    """Whether every background task of ``services`` runs, and the state of those that do not."""
    unhealthy = {
        name: health.report()
        for service in services
        for name, health in service.health.items()
        if not health.healthy
    }
    return not unhealthy, unhealthy


def health_api() -> APIRouter:
    """``/healthz`` (the process is alive), ``/readyz`` (its dependencies answer and its
    background tasks run), ``/metrics``."""
    api = APIRouter(tags=["health"])

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        runtime = get_runtime(request)
        states = await probe(runtime)  # replicas are shown by the details, never fail this
        checks = {
            "database": states["database"].reachable,
            "cache": states[backend_name(runtime)].reachable,
        }
        checks["workers"], failing = task_health(getattr(request.app.state, "services", []))
        ready = all(checks.values())
        body: dict[str, object] = {"status": "ready" if ready else "unavailable", "checks": checks}
        if failing:
            body["failing"] = failing  # task name → state (recovering, backoff, dead), error
        return JSONResponse(body, status_code=200 if ready else 503)

    @api.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return api


def body_limit(path: str) -> int:
    """The most bytes a request to ``path`` may send."""
    for pattern, limit in BODY_LIMITS:
        if pattern.match(path):
            return limit
    return MAX_BODY


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"the request body is larger than {limit} bytes")


class BodyLimit:
    """Refuse oversized request bodies with 413 ``{"detail": ...}``: at once when
    ``Content-Length`` says so, else as soon as the streamed bytes pass the limit (so a large
    body is never held in memory whole)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        declared = _content_length(scope["headers"])
        if declared is not None and declared > limit:
            error = too_large(limit)
            answer = JSONResponse({"detail": error.detail}, status_code=error.status_code)
            await answer(scope, receive, send)
            return
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_large(limit)  # FastAPI passes HTTPException on to its handler
            return message

        await self.app(scope, capped, send)


def _content_length(headers: Sequence[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _printable(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters and safe to encode (lone surrogates escaped)."""
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    return cut.encode("utf-8", "backslashreplace").decode("utf-8")


def _field(location: Sequence[Any]) -> str:
    parts = [str(part) for part in location]
    if len(parts) > 1 and parts[0] == "body":
        parts = parts[1:]  # body fields are the usual case: name them plainly
    return _printable(".".join(parts) or "request", MAX_FIELD)


def validation_problems(errors: Sequence[Any]) -> list[dict[str, str]]:
    """``{field, message}`` for each problem pydantic found; never the input itself."""
    return [
        {
            "field": _field(item.get("loc", ())),
            "message": _printable(str(item.get("msg", "invalid value")), MAX_MESSAGE),
        }
        for item in errors[:LISTED_ERRORS]
    ]


def validation_detail(problems: list[dict[str, str]], total: int) -> str:
    """One line naming the first few fields and what is wrong with each."""
    shown = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:SHOWN_IN_DETAIL])
    more = total - min(total, SHOWN_IN_DETAIL)
    return f"invalid request: {shown}" + (f" (and {more} more)" if more else "")


async def validation_answer(request: Request, error: Exception) -> JSONResponse:
    """Every request validation error, on every service: 422 with ``detail`` (one line) and
    ``errors`` (``[{field, message}]``). The input is never echoed: it may be huge or not
    serialisable (NaN, a lone surrogate)."""
    assert isinstance(error, RequestValidationError)
    errors = error.errors()
    problems = validation_problems(errors)
    return JSONResponse(
        {"detail": validation_detail(problems, len(errors)), "errors": problems},
        status_code=422,
    )


def traceback_text(error: BaseException) -> str:
    """``error``'s traceback as plain text (exception groups included), the way
    ``format_exc_info`` writes the ``exception`` field.

    Logged as text rather than handed to the logger as ``exc_info``: where structlog was never
    configured (tests, the schema fuzz, an app embedded without ``configure_logging``) its
    default renderer draws the traceback with rich, every frame's source highlighted and its
    locals pretty-printed. That takes seconds to tens of seconds for a request's ~60 frames,
    on the event loop, so the whole server stood still and the 500 arrived after the client
    had given up. Plain text costs milliseconds whatever the logging setup.
    """
    return "".join(traceback.format_exception(error)).rstrip("\n")


REQUEST_ID_HEADER = "x-request-id"
# Until when (unix time) a client that wrote reads the primary (``ReadYourWrites``)
PRIMARY_COOKIE = "wb_read_primary"
_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestId:
    """Give every request an id, bound to each log line written while it is handled and sent
    back as ``X-Request-ID``: the caller's own (Kong's correlation id) when well-formed,
    else a fresh one. With the ``event_id`` collectors and workers bind, a webhook's lines
    and its event's lines can be found together."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next(
            (value for name, value in scope["headers"] if name == REQUEST_ID_HEADER.encode()),
            b"",
        ).decode("latin-1")
        request_id = given if _WELL_FORMED_ID.fullmatch(given) else new_id()
        header = (REQUEST_ID_HEADER.encode(), request_id.encode())

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, stamped)


class ReadYourWrites:
    """A client whose request wrote reads the primary for the next few seconds.

    Replicas lag: the page a form's POST redirects to, or the list an API client fetches
    right after creating an item, could miss the write. A request that wrote (through
    ``Database.session``, in any task it spawned) gets a short-lived cookie; requests that
    carry it read the primary until it expires (``Database.own_writes_window``: the longest a
    replica in use may be behind). Without replicas nothing is set.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = getattr(getattr(scope.get("app"), "state", None), "runtime", None)
        if scope["type"] != "http" or runtime is None or not runtime.db.replicas:
            await self.app(scope, receive, send)
            return
        window = runtime.db.own_writes_window
        mark = WriteMark()

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start" and mark.wrote:
                cookie = (
                    f"{PRIMARY_COOKIE}={time.time() + window:.3f}; Max-Age={math.ceil(window)}; "
                    "Path=/; HttpOnly; SameSite=Lax"
                )
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)

        # never longer than one window, whatever the client sends
        until = min(_primary_until(scope), time.time() + window)
        with following_request(mark, until):
            await self.app(scope, receive, stamped)


def _primary_until(scope: Scope) -> float:
    for name, value in scope["headers"]:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, given = part.strip().partition("=")
                if key == PRIMARY_COOKIE:
                    try:
                        return float(given)
                    except ValueError:
                        return 0.0
    return 0.0


class CrashGuard:
    """The last line for an unhandled error in a request: log it once, traceback included,
    and answer a plain JSON 500 that says nothing about the internals.

    Added last in ``create_app``, it sits inside Starlette's ``ServerErrorMiddleware`` and
    outside the exception handlers, so it sees every error they leave (an outage handler
    re-raises what is not an outage) and answers before Starlette's plain-text 500 would.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as error:
            log_event(
                logger,
                Category.ERROR,
                "request_crashed",
                "error",
                level="error",
                method=scope.get("method"),
                path=scope.get("path"),
                exception=traceback_text(error),  # never exc_info: see traceback_text
            )
            if started:
                return  # the answer is under way: the server closes the connection
            answer = JSONResponse({"detail": "internal server error"}, status_code=500)
            await answer(scope, receive, send)
