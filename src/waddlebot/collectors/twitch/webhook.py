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

from waddlebot.collectors.dedupe import first_delivery, forget_delivery
from waddlebot.collectors.ingress import IngressRefused, RouterIngress
from waddlebot.collectors.twitch.components import Twitch
from waddlebot.collectors.twitch.metrics import EVENTSUB
from waddlebot.collectors.twitch.normalise import MalformedNotification, normalise
from waddlebot.collectors.twitch.signature import TYPE_HEADER, SignatureRejected, verify
from waddlebot.kernel.contracts import Event, EventType, Platform
from waddlebot.kernel.contracts.v1 import storable
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
    if not await first_delivery(
        runtime.backend.kv, Platform.twitch.value, message_id, ttl=twitch.settings.dedupe_ttl
    ):
        EVENTSUB.labels(kind, "duplicate").inc()
        return Response(status_code=NO_CONTENT)
    try:
        if kind == "revocation":
            await _revocation(twitch, payload)
        elif kind == "notification":
            await _notification(twitch, runtime, payload, message_id)
        else:
            EVENTSUB.labels("unknown", "ignored").inc()
    except HTTPException:
        raise  # the payload itself is wrong: a redelivery would be just as wrong
    except Exception as error:
        # Not handed on (router refused or unreachable, database down): forget the id so
        # Twitch's redelivery is processed, and ask for one.
        await forget_delivery(runtime.backend.kv, Platform.twitch.value, message_id)
        EVENTSUB.labels(kind, "requeue").inc()
        detail = error.detail if isinstance(error, IngressRefused) else repr(error)
        log_event(
            logger,
            Category.ERROR,
            "twitch_eventsub",
            "not_handed_on",
            level="warning",
            message_id=message_id,
            reason=detail[:300],
        )
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
    if not isinstance(payload, dict) or not isinstance(payload.get("subscription"), dict):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the body has no subscription object")
    cleaned: dict[str, Any] = storable(payload)  # NUL cannot be stored; drop, not refuse
    return cleaned


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


async def _revocation(twitch: Twitch, payload: dict[str, Any]) -> None:
    """Mark the subscription revoked (shown in the channel status) and leave an AUDIT line."""
    subscription = payload["subscription"]
    reason = str(subscription.get("status") or "revoked")
    row = await twitch.subscriptions.mark(str(subscription.get("id")), "revoked", reason)
    EVENTSUB.labels("revocation", "recorded" if row else "unknown").inc()
    log_event(
        logger,
        Category.AUDIT,
        "twitch_subscription_revoked",
        reason,
        level="warning",
        subscription=subscription.get("id"),
        type=subscription.get("type"),
        condition=subscription.get("condition"),
        known=row is not None,
    )


async def _notification(
    twitch: Twitch, runtime: Runtime, payload: dict[str, Any], message_id: str
) -> None:
    kind = str(payload["subscription"].get("type"))
    event_body = payload.get("event")
    if not isinstance(event_body, dict):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the notification has no event")
    try:
        event = normalise(kind, event_body, message_id)
    except MalformedNotification as error:
        EVENTSUB.labels(kind, "malformed").inc()
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    if event is None:
        EVENTSUB.labels(kind, "ignored").inc()
        return
    if await _from_the_bot(twitch, event):
        EVENTSUB.labels(kind, "own_message").inc()
        return
    await RouterIngress(runtime, collector="twitch", busy_retry_for=1.0).submit([event])
    EVENTSUB.labels(kind, "accepted").inc()


async def _from_the_bot(twitch: Twitch, event: Event) -> bool:
    """The bot's own chat lines come back through EventSub: never answer them (loops)."""
    if event.type is not EventType.message or event.user is None:
        return False
    return event.user.id == await twitch.auth.bot_user_id()
