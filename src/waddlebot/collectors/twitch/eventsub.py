"""One step every EventSub transport shares: a verified message → dedupe → router ingress.

The webhook verifies an HMAC, the WebSocket trusts its TLS connection; after that a message is
the same ``{subscription, event}`` payload with a message id, whichever way it came. So both
call :func:`process_verified`: a message id is processed once (shared dedupe in the cache),
revocations leave an AUDIT line, notifications are normalised and only *queued* at the router
ingress. When the hand-on fails the id is forgotten again, so a redelivery (Twitch's, for a
webhook; the session's own retry, for a WebSocket) is processed.
"""

from __future__ import annotations

import enum
from typing import Any

from waddlebot.collectors.dedupe import first_delivery, forget_delivery
from waddlebot.collectors.ingress import IngressRefused, RouterIngress
from waddlebot.collectors.twitch.components import Twitch
from waddlebot.collectors.twitch.metrics import EVENTSUB
from waddlebot.collectors.twitch.normalise import MalformedNotification, normalise
from waddlebot.kernel.contracts import Event, EventType, Platform
from waddlebot.kernel.contracts.v1 import storable
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.runtime import Runtime

logger = get_logger(__name__)


class Outcome(enum.Enum):
    processed = "processed"
    duplicate = "duplicate"


class MalformedMessage(ValueError):
    """The payload itself is wrong: a redelivery would be just as wrong (never retried)."""


class NotHandedOn(Exception):
    """The router refused or a dependency is away; the message id was forgotten."""

    def __init__(self, message_id: str, detail: str) -> None:
        super().__init__(detail)
        self.message_id = message_id
        self.detail = detail


def checked_payload(payload: Any) -> dict[str, Any]:
    """The ``{subscription, event?}`` payload, NUL characters dropped (PostgreSQL cannot store
    them: drop, not refuse); :class:`MalformedMessage` without a subscription object."""
    if not isinstance(payload, dict) or not isinstance(payload.get("subscription"), dict):
        raise MalformedMessage("the body has no subscription object")
    cleaned: dict[str, Any] = storable(payload)
    return cleaned


async def process_verified(
    twitch: Twitch, runtime: Runtime, kind: str, message_id: str, payload: dict[str, Any]
) -> Outcome:
    """Dedupe by ``message_id``, then record a revocation or hand a notification on.

    ``payload`` is ``{subscription, event?}`` (already checked to hold a subscription object).
    Raises :class:`MalformedMessage` or :class:`NotHandedOn`.
    """
    kv, ttl = runtime.backend.kv, twitch.settings.dedupe_ttl
    if not await first_delivery(kv, Platform.twitch.value, message_id, ttl=ttl):
        EVENTSUB.labels(kind, "duplicate").inc()
        return Outcome.duplicate
    try:
        if kind == "revocation":
            await _revocation(twitch, payload)
        elif kind == "notification":
            await _notification(twitch, runtime, payload, message_id)
        else:
            EVENTSUB.labels("unknown", "ignored").inc()
    except MalformedMessage:
        raise
    except Exception as error:
        await forget_delivery(kv, Platform.twitch.value, message_id)
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
        raise NotHandedOn(message_id, detail) from error
    return Outcome.processed


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
        transport=(subscription.get("transport") or {}).get("method"),
        known=row is not None,
    )


async def _notification(
    twitch: Twitch, runtime: Runtime, payload: dict[str, Any], message_id: str
) -> None:
    kind = str(payload["subscription"].get("type"))
    event_body = payload.get("event")
    if not isinstance(event_body, dict):
        raise MalformedMessage("the notification has no event")
    try:
        event = normalise(kind, event_body, message_id)
    except MalformedNotification as error:
        EVENTSUB.labels(kind, "malformed").inc()
        raise MalformedMessage(str(error)) from None
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
