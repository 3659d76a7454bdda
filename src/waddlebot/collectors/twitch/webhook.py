"""``POST /webhooks/twitch/eventsub``: verify, dedupe, answer, hand on.

Order matters: the signature is checked over the raw bytes before any parsing; challenges are
answered byte for byte; a message id is processed once (repeats get 204); notifications are
only *queued* at the router ingress, so the acknowledgement never waits for module work. If
the router refuses, the id is forgotten and Twitch gets a 503 so it redelivers.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request, Response, status
from fastapi.responses import PlainTextResponse

from waddlebot.collectors.twitch.components import Twitch
from waddlebot.collectors.twitch.eventsub import (
    MalformedMessage,
    NotHandedOn,
    checked_payload,
    process_verified,
)
from waddlebot.collectors.twitch.metrics import EVENTSUB
from waddlebot.collectors.twitch.signature import TYPE_HEADER, SignatureRejected, verify
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.web import RETRY_AFTER_SECONDS

logger = get_logger(__name__)
NO_CONTENT = status.HTTP_204_NO_CONTENT


async def handle_eventsub(twitch: Twitch, runtime: Runtime, request: Request) -> Response:
    """The whole webhook: see the module docstring for the order of checks."""
    secret = twitch.settings.eventsub_secret
    if not secret:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "EventSub is not configured")
    body = await request.body()
    kind = request.headers.get(TYPE_HEADER, "")
    try:
        message_id = verify(secret, request.headers, body, max_age=twitch.settings.max_message_age)
    except SignatureRejected as rejected:
        EVENTSUB.labels(kind or "unknown", "rejected").inc()
        log_event(logger, Category.AUTH, "twitch_eventsub", "denied", reason=str(rejected))
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(rejected)) from None
    payload = _parse(body)
    if kind == "webhook_callback_verification":
        return await _challenge(twitch, payload)
    try:
        await process_verified(twitch, runtime, kind, message_id, payload)
    except MalformedMessage as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    except NotHandedOn:
        # Not handed on (router refused or unreachable, database down): the id was
        # forgotten, so Twitch's redelivery is processed; ask for one.
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "try again later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None
    return Response(status_code=NO_CONTENT)


def _parse(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the body is not JSON") from None
    try:
        return checked_payload(payload)
    except MalformedMessage as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None


async def _challenge(twitch: Twitch, payload: dict[str, Any]) -> Response:
    """Answer exactly the challenge, as text/plain, and note the subscription is verified."""
    challenge = payload.get("challenge")
    if not isinstance(challenge, str) or not challenge:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the verification has no challenge")
    subscription_id = payload["subscription"].get("id")
    if isinstance(subscription_id, str):
        await twitch.subscriptions.mark(subscription_id, "enabled")
    EVENTSUB.labels("webhook_callback_verification", "answered").inc()
    return PlainTextResponse(challenge, media_type="text/plain")
