"""HTTP surface: the overlay page, its WebSocket and the browser-sources REST API."""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket, status
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from waddlebot.kernel.contracts import OverlayAction, OverlayMessage, PlayerReport
from waddlebot.kernel.contracts.names import overlay_channel
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.security.api_keys import Principal
from waddlebot.kernel.security.http import require_permission
from waddlebot.overlays.hub import (
    CLOSE_REVOKED,
    CLOSE_TIMEOUT,
    CLOSE_WRONG_KIND,
    Close,
    Connection,
)
from waddlebot.overlays.metrics import SENT
from waddlebot.overlays.sanitize import KINDS, ContentRejected, sanitise
from waddlebot.overlays.tokens import UnknownCommunity

if TYPE_CHECKING:
    from waddlebot.overlays.service import OverlayService

logger = get_logger(__name__)

WRITE_SCOPE = "overlays:write"
MAX_INCOMING = 1024
CLOSE_POLICY = 1008  # policy violation: a page from a foreign origin
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
MANAGE_SCOPE = "overlays:manage"
MANAGE_PERMISSION = "overlays.manage"  # what a person needs in the community
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex",
}


@cache
def page_template(name: str = "overlay.html") -> str:
    return resources.files("waddlebot.overlays").joinpath(f"static/{name}").read_text()


YOUTUBE_ORIGINS = "https://www.youtube.com https://www.youtube-nocookie.com"


def _player_page(request: Request, nonce: str) -> HTMLResponse:
    """The ``player`` kind: the YouTube IFrame Player page (its API script from
    ``WADDLEBOT_YOUTUBE_IFRAME_API_URL``). It sends a Referer (YouTube refuses embeds
    without one: error 153), unlike the other overlay pages."""
    api_url = request.app.state.runtime.settings.youtube_iframe_api_url
    api_origin = _origin(api_url) or ""
    csp = (
        f"default-src 'none'; script-src 'nonce-{nonce}' {api_origin} https://www.youtube.com; "
        f"style-src 'nonce-{nonce}'; frame-src {api_origin} {YOUTUBE_ORIGINS}; "
        f"img-src https://i.ytimg.com; connect-src 'self'{_socket_origins(request)}; "
        "base-uri 'none'; form-action 'none'"
    )
    page = (
        page_template("player.html")
        .replace("__NONCE__", nonce)
        .replace("__IFRAME_API__", html.escape(api_url, quote=True))
    )
    headers = {**PAGE_HEADERS, "Referrer-Policy": "strict-origin-when-cross-origin"}
    return HTMLResponse(page, headers={**headers, "Content-Security-Policy": csp})


class DisplayAccepted(BaseModel):
    community_id: str
    kind: str
    content: dict[str, Any] = Field(description="the content as the overlay will show it")


class OverlayUrls(BaseModel):
    community_id: str
    urls: dict[str, str] = Field(description="overlay URL per kind: ticker, media, general, alert")


class KindsBody(BaseModel):
    kinds: list[str] = Field(default_factory=list, description="default: every kind")


class Revoked(BaseModel):
    community_id: str
    revoked: int


def overlays_api(service: OverlayService) -> APIRouter:
    api = APIRouter(tags=["overlays"])

    @api.get("/overlay/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def overlay_page(token: str, request: Request) -> HTMLResponse:
        grant = await service.tokens.resolve(token)
        if grant is None:
            return HTMLResponse(
                "<!doctype html><title>WaddleBot overlay</title>unknown or revoked overlay URL",
                status_code=404,
                headers=PAGE_HEADERS,
            )
        nonce = secrets.token_urlsafe(16)
        if grant.kind == "player":
            return _player_page(request, nonce)
        # Remote images from the allowed hosts; uploaded media through the page's own
        # token URL (``/overlay/{token}/media/…``, same origin).
        hosts = "".join(f"https://{host} " for host in service.config.image_hosts)
        csp = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            f"img-src {hosts}'self'; media-src 'self'; "
            f"connect-src 'self'{_socket_origins(request)}; base-uri 'none'; form-action 'none'"
        )
        html = page_template().replace("__NONCE__", nonce).replace("__KIND__", grant.kind)
        return HTMLResponse(html, headers={**PAGE_HEADERS, "Content-Security-Policy": csp})

    @api.websocket("/ws/overlay/{token}")
    async def overlay_socket(websocket: WebSocket, token: str) -> None:
        public_url = websocket.app.state.runtime.settings.public_url
        if not origin_allowed(websocket.headers, public_url, service.config.allowed_origins):
            log_event(
                logger,
                Category.AUTH,
                "overlay_connect",
                "denied",
                reason="origin",
                origin=websocket.headers.get("origin", "")[:200],
            )
            await websocket.close(CLOSE_POLICY)  # before accept: the handshake gets a 403
            return
        await websocket.accept()
        grant = await service.tokens.resolve(token)
        if grant is None:
            await _refuse(websocket, CLOSE_REVOKED, "unknown or revoked overlay URL")
            return
        wanted = websocket.query_params.get("kind")
        if wanted is not None and wanted != grant.kind:
            await _refuse(websocket, CLOSE_WRONG_KIND, f"this URL is for the {grant.kind} overlay")
            return
        connection = Connection(grant.kind, grant.token_hash)
        await service.hub.join(grant.community_id, connection)
        try:
            if await service.tokens.resolve(token) is None:  # revoked while we subscribed
                connection.close(CLOSE_REVOKED, "this overlay URL was revoked")
            log_event(
                logger,
                Category.AUDIT,
                "overlay_connect",
                "ok",
                community=grant.community_id,
                kind=grant.kind,
            )
            reports = (
                _player_reports(service, grant.community_id) if grant.kind == "player" else None
            )
            await _run(websocket, connection, service.config.ping_interval, reports)
        finally:
            service.hub.leave(grant.community_id, connection)

    prefix = "/api/browser-sources/v1/communities/{community_id}"

    @api.post(prefix + "/display", status_code=status.HTTP_202_ACCEPTED)
    async def display(
        community_id: str,
        action: OverlayAction,
        principal: Annotated[
            Principal, Depends(require_permission(MANAGE_PERMISSION, scope=WRITE_SCOPE))
        ],
    ) -> DisplayAccepted:
        """Push one overlay action to every browser source of the community."""
        if not await service.tokens.community_exists(community_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no community {community_id!r}")
        try:
            content = sanitise(action.kind, action.content, service.config.image_hosts)
        except ContentRejected as error:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
        await service.runtime.backend.pubsub.publish(
            overlay_channel(community_id), action.model_dump_json()
        )
        log_event(
            logger,
            Category.AUDIT,
            "overlay_display",
            "ok",
            community=community_id,
            user=principal.name,
            kind=action.kind,
        )
        return DisplayAccepted(community_id=community_id, kind=action.kind, content=content)

    @api.get(prefix + "/urls")
    async def urls(
        community_id: str,
        _: Annotated[Principal, Depends(require_permission(MANAGE_PERMISSION, scope=MANAGE_SCOPE))],
    ) -> OverlayUrls:
        """The overlay URL of every kind (issued on first request)."""
        try:
            found = await service.tokens.urls(community_id)
        except UnknownCommunity as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        return OverlayUrls(community_id=community_id, urls=found)

    @api.post(prefix + "/rotate")
    async def rotate(
        community_id: str,
        body: KindsBody,
        principal: Annotated[
            Principal, Depends(require_permission(MANAGE_PERMISSION, scope=MANAGE_SCOPE))
        ],
    ) -> OverlayUrls:
        """New URLs for ``kinds``; the old ones stop working and their pages disconnect."""
        try:
            found = await service.tokens.rotate(community_id, body.kinds or None)
        except UnknownCommunity as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        except ValueError as error:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
        log_event(
            logger,
            Category.AUDIT,
            "overlay_rotate",
            "ok",
            community=community_id,
            user=principal.name,
            kinds=sorted(found),
        )
        return OverlayUrls(community_id=community_id, urls=found)

    @api.post(prefix + "/revoke")
    async def revoke(
        community_id: str,
        body: KindsBody,
        principal: Annotated[
            Principal, Depends(require_permission(MANAGE_PERMISSION, scope=MANAGE_SCOPE))
        ],
    ) -> Revoked:
        """Kill the URLs of ``kinds`` without issuing new ones (a later ``urls`` issues them)."""
        try:
            count = await service.tokens.revoke(community_id, body.kinds or None)
        except ValueError as error:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
        log_event(
            logger,
            Category.AUDIT,
            "overlay_revoke",
            "ok",
            community=community_id,
            user=principal.name,
            revoked=count,
        )
        return Revoked(community_id=community_id, revoked=count)

    @api.get("/overlay", include_in_schema=False)
    async def overlay_index() -> PlainTextResponse:
        return PlainTextResponse(
            "Overlay URLs carry a token: see `waddlebot overlays urls COMMUNITY` "
            f"(kinds: {', '.join(KINDS)}).",
            status_code=404,
        )

    return api


def _origin(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url``, lowercased, default port dropped; None if none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def origin_allowed(headers: Mapping[str, str], public_url: str, extra: Sequence[str]) -> bool:
    """May a page from the handshake's ``Origin`` open an overlay socket? Yes when there is
    none or it is ``null`` (OBS), when it is this installation (``public_url``, or the very
    host the socket was opened on: the page is served from there) or listed in ``extra``
    (``*``: any). Otherwise a foreign page is trying to read overlays: no."""
    sent = headers.get("origin")
    if sent is None or sent.strip() in ("", "null"):
        return True
    if "*" in extra:
        return True
    origin = _origin(sent)
    if origin is None:
        return False
    host = headers.get("host", "").lower()
    own = {_origin(public_url), *(_origin(item) for item in extra)}
    if host:
        own |= {_origin(f"{scheme}://{host}") for scheme in ("http", "https")}
    return origin in own


def _socket_origins(request: Request) -> str:
    """``ws://host wss://host`` for the host the browser used (older engines do not count
    WebSocket URLs as 'self')."""
    host = request.headers.get("host", "")
    if not host or not _HOST.fullmatch(host):
        return ""
    return f" ws://{host} wss://{host}"


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await websocket.send_text(
            OverlayMessage(type="revoked", content={"reason": reason}).model_dump_json()
        )
        await websocket.close(code, reason)


Reports = Callable[[dict[str, Any]], Awaitable[None]]


def _player_reports(service: OverlayService, community_id: str) -> Reports:
    """What a ``player`` page may say besides ping/pong: ``ended``/``error`` of a queue
    entry (validated as :class:`PlayerReport`; anything else is ignored)."""

    async def report(message: dict[str, Any]) -> None:
        try:
            parsed = PlayerReport.model_validate(message)
        except ValidationError:
            return
        await service.player_report(community_id, parsed)

    return report


async def _run(
    websocket: WebSocket,
    connection: Connection,
    ping_interval: float,
    reports: Reports | None = None,
) -> None:
    """Write the outbox, read pings/pongs (and a player's reports) and keep the connection
    alive, until one side ends."""

    async def writer() -> None:
        while True:
            item = await connection.outbox.get()
            if isinstance(item, Close):
                await _refuse(websocket, item.code, item.reason)
                return
            await websocket.send_text(item)
            SENT.labels(connection.kind).inc()

    async def reader() -> None:
        while True:
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                return
            connection.last_seen = time.monotonic()
            raw = received.get("text") or ""
            if len(raw) > MAX_INCOMING:  # pages send ping/pong and a player its reports
                continue
            try:
                message = json.loads(raw)
                kind = message.get("type")
            except (ValueError, AttributeError):
                continue
            if kind == "ping":
                connection.offer(OverlayMessage(type="pong"))
            elif reports is not None and kind in ("ready", "ended", "error"):
                message.pop("version", None)
                await reports(message)

    async def keepalive() -> None:
        while True:
            await asyncio.sleep(ping_interval)
            if time.monotonic() - connection.last_seen > 3 * ping_interval:
                connection.close(CLOSE_TIMEOUT, "no pong")
                return
            connection.offer(OverlayMessage(type="ping"))

    tasks = [asyncio.create_task(work()) for work in (writer, reader, keepalive)]
    try:
        done, _ = await asyncio.wait(tasks[:2], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            error = task.exception()
            if error is not None and not isinstance(error, WebSocketDisconnect | RuntimeError):
                raise error
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(1000)
