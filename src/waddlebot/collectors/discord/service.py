"""The Discord interactions endpoint and sender, as a service.

``POST /webhooks/discord/interactions``: Ed25519-verified (401 otherwise); PING → PONG;
APPLICATION_COMMAND → the command goes to the router and the endpoint waits up to
``WADDLEBOT_DISCORD_INLINE_WAIT`` seconds: if the module has answered by then the reply is the
response itself (type 4), otherwise Discord gets "thinking…" (type 5) and the sender posts the
answer as a follow-up through the interaction webhook.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from waddlebot.collectors.dedupe import first_delivery
from waddlebot.collectors.discord.config import DiscordSettings
from waddlebot.collectors.discord.metrics import DISCORD_EVENTS
from waddlebot.collectors.discord.normalise import interaction_event
from waddlebot.collectors.discord.rest import DiscordRest
from waddlebot.collectors.discord.sender import (
    INTERACTION_TTL,
    MAX_CONTENT,
    NO_MENTIONS,
    DiscordSender,
    acked_key,
    claim_key,
    inline_channel,
    interaction_key,
)
from waddlebot.collectors.discord.verify import verify_discord
from waddlebot.collectors.ingress import IngressRefused, RouterIngress
from waddlebot.kernel.backends import KeyValue
from waddlebot.kernel.contracts import Event, EventOutcome, OutboundMessage
from waddlebot.kernel.contracts.names import outcome_channel
from waddlebot.kernel.contracts.v1 import storable
from waddlebot.kernel.errors import DependencyUnavailable
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.service import Service
from waddlebot.kernel.web import get_runtime

logger = get_logger(__name__)
PLATFORM = "discord"
EPHEMERAL = 1 << 6


class DiscordService(Service):
    name = "discord"

    def __init__(self, settings: DiscordSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or DiscordSettings()
        self.rest: DiscordRest | None = None

    def chat_api(self) -> APIRouter:
        return discord_api(self)

    async def start(self, runtime: Runtime) -> None:
        PLATFORM_HEALTH.configured("discord", bool(self.settings.public_key))
        self.rest = DiscordRest(runtime.backend.kv, self.settings)
        self.spawn("sender", DiscordSender(runtime.backend, self.settings, self.rest).run)

    async def stop(self) -> None:
        await super().stop()
        if self.rest is not None:
            await self.rest.close()


def discord_api(service: DiscordService) -> APIRouter:
    api = APIRouter(tags=["discord"])

    @api.post("/webhooks/discord/interactions")
    async def interactions(request: Request) -> Response:
        body = await request.body()
        settings = service.settings
        if not settings.public_key or not verify_discord(
            settings.public_key, request.headers, body, window=settings.replay_window
        ):
            DISCORD_EVENTS.labels("interaction", "bad_signature").inc()
            log_event(logger, Category.AUTH, "discord_interaction", "denied", reason="signature")
            return JSONResponse({"detail": "invalid request signature"}, 401)
        try:
            payload: Any = storable(json.loads(body))  # NUL cannot be stored: drop it
        except ValueError:
            return JSONResponse({"detail": "body is not JSON"}, 400)
        if not isinstance(payload, dict):
            return JSONResponse({"detail": "body is not an object"}, 400)
        if payload.get("type") == 1:
            DISCORD_EVENTS.labels("interaction", "ping").inc()
            return JSONResponse({"type": 1})
        event = interaction_event(payload, settings.role_map)
        if event is None:
            DISCORD_EVENTS.labels("interaction", "unsupported").inc()
            return _message("This interaction is not supported yet.", ephemeral=True)
        runtime = get_runtime(request)
        kv = runtime.backend.kv
        if not await first_delivery(kv, PLATFORM, f"interaction:{event.id}"):
            return Response(status_code=status.HTTP_204_NO_CONTENT)
        context = {
            "application_id": str(payload.get("application_id") or settings.application_id),
            "token": str(payload.get("token", "")),
        }
        await kv.set(interaction_key(event.id), json.dumps(context), ttl=INTERACTION_TTL)
        return await _answer(runtime, event, settings.inline_wait)

    return api


async def _answer(runtime: Runtime, event: Event, wait: float) -> Response:
    """Submit, then answer inline if the module is done within ``wait``, else defer."""
    kv = runtime.backend.kv
    channels = (outcome_channel(event.id), inline_channel(event.id))
    async with runtime.backend.pubsub.subscribe(*channels) as subscription:
        try:
            await RouterIngress(runtime, collector=PLATFORM, busy_retry_for=1.0).submit([event])
        except (IngressRefused, DependencyUnavailable, OSError) as error:
            log_event(
                logger,
                Category.ERROR,
                "discord_interaction",
                "refused",
                level="warning",
                reason=str(error),
            )
            await kv.set(acked_key(event.id), "refused", ttl=INTERACTION_TTL)
            return _message("WaddleBot is busy, try again shortly.", ephemeral=True)
        outcome: EventOutcome | None = None
        messages: list[OutboundMessage] = []
        deadline = time.monotonic() + wait
        while outcome is None or len(messages) < outcome.outbound:
            left = deadline - time.monotonic()
            received = await subscription.get(timeout=left) if left > 0 else None
            if received is None:
                break
            channel, data = received
            if channel == channels[0]:
                outcome = EventOutcome.model_validate_json(data)
            else:
                messages.append(OutboundMessage.model_validate_json(data))
    done = outcome is not None and len(messages) >= outcome.outbound
    if done and outcome is not None:
        chats = [m for m in messages if m.kind == "chat"]
        content = "\n".join(m.text for m in chats)
        if len(content) <= MAX_CONTENT and await _claim_all(kv, chats):
            DISCORD_EVENTS.labels("interaction", "inline").inc()
            if content:
                return _message(content, acked=(kv, event.id, "inline"))
            text = "I don't know that command." if outcome.status == "ignored" else "Done."
            return _message(text, ephemeral=True, acked=(kv, event.id, "inline"))
    DISCORD_EVENTS.labels("interaction", "deferred").inc()
    return JSONResponse(
        {"type": 5}, background=BackgroundTask(_mark_acked, kv, event.id, "deferred")
    )


async def _claim_all(kv: KeyValue, messages: list[OutboundMessage]) -> bool:
    """Claim every message for the inline answer; False if the sender got one first."""
    claimed: list[str] = []
    for message in messages:
        key = claim_key(message.id)
        if not await kv.set(key, "endpoint", ttl=INTERACTION_TTL, only_if_absent=True):
            if claimed:
                await kv.delete(*claimed)  # defer: the sender sends them all
            return False
        claimed.append(key)
    return True


async def _mark_acked(kv: KeyValue, event_id: str, how: str) -> None:
    await kv.set(acked_key(event_id), how, ttl=INTERACTION_TTL)


def _message(
    content: str, *, ephemeral: bool = False, acked: tuple[KeyValue, str, str] | None = None
) -> JSONResponse:
    data: dict[str, Any] = {"content": content, "allowed_mentions": NO_MENTIONS}
    if ephemeral:
        data["flags"] = EPHEMERAL
    background = BackgroundTask(_mark_acked, *acked) if acked else None
    return JSONResponse({"type": 4, "data": data}, background=background)
