"""Playground collector: a real collector whose "platform" is an HTTP call or a terminal.

The message goes the full way: collector → router ingress (HTTP, through the same client in
both modes) → queue → worker → module → outbound queue → this collector's sender, which
publishes each reply on a per-event channel the waiting request listens to. Works with many
replicas: whichever one sends, the one holding the request hears it over pub/sub.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, WebSocket, status

from waddlebot.collectors.ingress import IngressRefused, RouterIngress
from waddlebot.collectors.playground.history import ChannelHistory
from waddlebot.collectors.playground.models import (
    ChannelMessages,
    PlaygroundMessage,
    PlaygroundResult,
    Reply,
)
from waddlebot.collectors.playground.socket import serve_socket
from waddlebot.collectors.sender import OutboundSender
from waddlebot.kernel.backends import Backend
from waddlebot.kernel.contracts import Event, EventOutcome, OutboundMessage, Platform, UserRef
from waddlebot.kernel.contracts.names import outcome_channel
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.security.api_keys import ADMIN_SCOPE
from waddlebot.kernel.security.http import require_scope
from waddlebot.kernel.service import Service
from waddlebot.kernel.web import get_runtime

logger = get_logger(__name__)
SERVER_ID = "playground"


def replies_channel(event_id: str) -> str:
    return f"playground:replies:{event_id}"


class PlaygroundSender(OutboundSender):
    """Hands each reply to the request waiting for it; keeps the rest (a scheduled job's
    messages, replies after their request timed out) in the channel's history."""

    platform = Platform.playground.value

    def __init__(self, backend: Backend, history: ChannelHistory) -> None:
        super().__init__(backend)
        self.history = history

    def lane(self, message: OutboundMessage) -> str:
        """One lane per channel, whispers included: nothing here is paced, and a reader of the
        transcript expects an event's replies in the order the module made them."""
        return f"channel:{message.server_id}:{message.channel_id}"

    async def deliver(self, message: OutboundMessage) -> None:
        """To the request waiting for it, in whichever replica it waits; nobody heard it (no
        request, or it gave up): into the channel's history."""
        heard = await self.backend.pubsub.publish(
            replies_channel(message.event_id), message.model_dump_json()
        )
        if not heard:
            await self.history.append(message)


async def authorise_playground(request: Request) -> None:
    """The caller chooses who it chats as and with which role, so only the installation's
    operators may: admin keys, superusers' sessions, and our own services (``waddlebot chat``
    presents a service token made from the secret key it can read)."""
    settings = get_runtime(request).settings
    if settings.playground == "off":
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the playground is switched off")
    await require_scope(ADMIN_SCOPE)(request)


def playground_api() -> APIRouter:
    api = APIRouter(prefix="/api/playground/v1", tags=["playground"])

    @api.post("/messages", response_model=PlaygroundResult)
    async def post_message(
        body: PlaygroundMessage,
        request: Request,
        _: Annotated[None, Depends(authorise_playground)],
    ) -> PlaygroundResult:
        runtime = get_runtime(request)
        event = Event(
            platform=Platform.playground,
            server_id=SERVER_ID,
            channel_id=body.channel,
            channel_name=body.channel,
            user=UserRef(id=body.user, name=body.user, role=body.role),
            text=body.text,
        )
        return await converse(runtime, event)

    @api.websocket("/socket")
    async def socket(websocket: WebSocket) -> None:
        """Many messages over one connection (see ``collectors/playground/socket.py``)."""
        await serve_socket(websocket, converse)

    @api.get("/channels/{channel}/messages", response_model=ChannelMessages)
    async def channel_messages(
        request: Request,
        _: Annotated[None, Depends(authorise_playground)],
        channel: Annotated[str, Path(min_length=1, max_length=200)],
        after: Annotated[
            int | None,
            Query(ge=0, description="the cursor last seen; omitted: the newest messages"),
        ] = None,
    ) -> ChannelMessages:
        """What the bot posted into ``channel`` on its own (scheduled jobs, late replies)."""
        runtime = get_runtime(request)
        return await history(runtime).read(channel, after)

    return api


def history(runtime: Runtime) -> ChannelHistory:
    return ChannelHistory(runtime.backend.kv, runtime.settings.playground_history)


async def converse(runtime: Runtime, event: Event) -> PlaygroundResult:
    """Submit ``event`` to the router and wait (bounded) for its outcome and every reply."""
    timeout = runtime.settings.playground_reply_timeout
    channels = (outcome_channel(event.id), replies_channel(event.id))
    return await _collect(runtime, event, channels, timeout)


async def _collect(
    runtime: Runtime, event: Event, channels: tuple[str, str], timeout: float
) -> PlaygroundResult:
    async with runtime.backend.pubsub.subscribe(*channels) as subscription:
        try:
            await RouterIngress(runtime, collector="playground").submit([event])
        except IngressRefused as refused:
            log_event(
                logger,
                Category.ERROR,
                "playground_submit",
                "refused",
                level="warning",
                status=refused.status,
                detail=refused.detail[:500],
            )
            raise HTTPException(refused.status, refused.detail) from None
        replies: list[Reply] = []
        outcome: EventOutcome | None = None
        deadline = time.monotonic() + timeout
        while outcome is None or len(replies) < outcome.outbound:
            left = deadline - time.monotonic()
            received = await subscription.get(timeout=left) if left > 0 else None
            if received is None:
                raise HTTPException(
                    status.HTTP_504_GATEWAY_TIMEOUT,
                    f"no answer within {timeout:g}s; the message is queued and will still be "
                    "processed",
                )
            channel, payload = received
            if channel == channels[0]:
                outcome = EventOutcome.model_validate_json(payload)
            else:
                message = OutboundMessage.model_validate_json(payload)
                replies.append(Reply(type=message.kind, text=message.text))
    return PlaygroundResult(event_id=event.id, status=outcome.status, replies=replies)


class PlaygroundService(Service):
    name = "playground"

    def chat_api(self) -> APIRouter:
        return playground_api()

    async def start(self, runtime: Runtime) -> None:
        PLATFORM_HEALTH.configured("playground", runtime.settings.playground != "off")
        if runtime.settings.playground == "off":
            return
        sender = PlaygroundSender(runtime.backend, history(runtime))
        self.spawn("sender", sender.run)
