"""The playground over one WebSocket: many messages, one connection, one authentication.

``POST /api/playground/v1/messages`` pays for a whole HTTP request per chat line (parsing,
middleware, routing, authentication). A terminal, a test harness or a load test talking to the
bot continuously holds one socket instead: each text frame is a :class:`SocketMessage`, each
answer a :class:`SocketAnswer` carrying the frame's ``id``. Frames are handled concurrently
(up to :data:`IN_FLIGHT` per socket), so answers may come back in another order than sent.

Only a presented credential opens it (``Authorization: Bearer`` with an admin API key or a
service token), never the login cookie: a browser sends cookies with a WebSocket handshake to
any site, so a cookie-authenticated socket could be opened by someone else's page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, WebSocket, WebSocketDisconnect, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from waddlebot.collectors.playground.models import (
    PlaygroundResult,
    SocketAnswer,
    SocketError,
    SocketMessage,
)
from waddlebot.kernel.contracts import Event, Platform, UserRef
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.security.api_keys import ADMIN_SCOPE
from waddlebot.kernel.security.http import authenticate, presented_key
from waddlebot.kernel.web import get_runtime

logger = get_logger(__name__)

IN_FLIGHT = 100  # frames of one socket being answered at once; the next read waits for a slot
PATH = "/api/playground/v1/socket"

Converse = Callable[[Runtime, Event], Awaitable[PlaygroundResult]]


async def admitted(websocket: WebSocket) -> bool:
    """Accept the handshake of an operator; refuse anyone else with the HTTP status and
    reason the messages endpoint would give (or, where the server cannot send a response
    to a handshake, by closing with 1008 and the reason)."""
    runtime = get_runtime(websocket)
    refusal: tuple[int, str] | None = None
    if runtime.settings.playground == "off":
        refusal = (404, "the playground is switched off")
    elif presented_key(websocket) is None:
        refusal = (401, "an admin API key or service token is required (Authorization: Bearer …)")
    else:
        principal = await authenticate(websocket)
        if principal is None:
            refusal = (401, "the key is not valid")
        elif not principal.allows(ADMIN_SCOPE):
            refusal = (403, f"this key lacks the {ADMIN_SCOPE!r} scope")
    if refusal is None:
        await websocket.accept()
        return True
    code, reason = refusal
    log_event(logger, Category.AUTH, PATH, "denied", reason=reason)
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse({"detail": reason}, status_code=code))
    else:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=reason)
    return False


async def serve_socket(websocket: WebSocket, converse_one: Converse) -> None:
    """Answer every frame until the client goes away; unanswered frames are cancelled then."""
    if not await admitted(websocket):
        return
    runtime = get_runtime(websocket)
    slots = asyncio.Semaphore(IN_FLIGHT)
    sending = asyncio.Lock()  # one frame on the wire at a time
    running: set[asyncio.Task[None]] = set()

    async def answer(raw: str) -> None:
        try:
            reply = await _answer(runtime, raw, converse_one)
            async with sending:
                with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # client gone
                    await websocket.send_text(reply.model_dump_json())
        finally:
            slots.release()

    try:
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                break
            text = frame.get("text")
            if text is None:  # a binary frame: read as UTF-8 text
                text = (frame.get("bytes") or b"").decode("utf-8", "replace")
            await slots.acquire()
            task = asyncio.create_task(answer(text))
            running.add(task)
            task.add_done_callback(running.discard)
    finally:
        for task in list(running):
            task.cancel()
        for task in list(running):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _answer(runtime: Runtime, raw: str, converse_one: Converse) -> SocketAnswer:
    try:
        message = SocketMessage.model_validate_json(raw)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem.get("loc", ())) or "frame"
        detail = f"{where}: {problem.get('msg', 'invalid')}"
        return SocketAnswer(id=_frame_id(raw), error=SocketError(status=422, detail=detail))
    event = Event(
        platform=Platform.playground,
        server_id="playground",
        channel_id=message.channel,
        channel_name=message.channel,
        user=UserRef(id=message.user, name=message.user, role=message.role),
        text=message.text,
    )
    try:
        result = await converse_one(runtime, event)
    except HTTPException as refused:
        failure = SocketError(status=refused.status_code, detail=str(refused.detail))
        return SocketAnswer(id=message.id, error=failure)
    return SocketAnswer(id=message.id, result=result)


def _frame_id(raw: str) -> str | None:
    """The ``id`` of a frame that did not validate, when it has a usable one."""
    try:
        value = json.loads(raw).get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and len(value) <= 100 else None
