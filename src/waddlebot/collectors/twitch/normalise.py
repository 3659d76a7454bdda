"""EventSub notifications → :class:`Event`: one small function per subscription type.

Channel = broadcaster (server and channel ids are both the broadcaster id, the channel name
is the broadcaster login). Chat badges become the user's role; anything type-specific goes
into ``Event.data``. Unknown types are ignored (None), malformed payloads raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from waddlebot.kernel.contracts import Event, EventType, Platform, Role, UserRef
from waddlebot.kernel.contracts.roles import BADGE_ROLES
from waddlebot.kernel.contracts.v1 import MAX_TEXT

Payload = dict[str, Any]


class MalformedNotification(Exception):
    """The notification lacks fields its type requires."""


def _text(event: Payload, key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedNotification(f"event.{key} is missing")
    return value


def _user(event: Payload, prefix: str = "user", *, badges: list[str] | None = None) -> UserRef:
    """A UserRef from ``<prefix>_id/_login/_name`` fields, role from badges."""
    chosen = badges or []
    role = max((BADGE_ROLES.get(badge, Role.everyone) for badge in chosen), default=Role.everyone)
    return UserRef(
        id=_text(event, f"{prefix}_id"),
        name=_text(event, f"{prefix}_login"),
        display_name=event.get(f"{prefix}_name") or None,
        role=role,
        badges=chosen,
    )


def _optional_user(event: Payload) -> UserRef | None:
    """Anonymous cheers and gifts carry null user fields."""
    return _user(event) if event.get("user_id") else None


def _place(event: Payload, prefix: str = "broadcaster") -> Payload:
    """Where the event happened: the broadcaster's channel (and, as for every EventSub
    event, that nobody waits for its outcome: answers go out through the sender)."""
    broadcaster = _text(event, f"{prefix}_user_id")
    return {
        "platform": Platform.twitch,
        "server_id": broadcaster,
        "channel_id": broadcaster,
        "channel_name": event.get(f"{prefix}_user_login") or None,
        "outcome_wanted": False,
    }


def _clip(value: object) -> str:
    return str(value or "")[:MAX_TEXT]


def chat_message(event: Payload, event_id: str) -> Event:
    """``channel.chat.message``: text, fragments, badges → role, reply parent.

    The event id is Twitch's chat message id, so replies can thread under it.
    """
    message = event.get("message") or {}
    badges = [b["set_id"] for b in event.get("badges") or [] if isinstance(b, dict)]
    user = _user(event, "chatter_user", badges=badges)
    if user.id == event.get("broadcaster_user_id"):
        user = user.model_copy(update={"role": Role.broadcaster})
    reply = event.get("reply") or {}
    return Event(
        id=_text(event, "message_id"),
        type=EventType.message,
        **_place(event),
        user=user,
        text=_clip(message.get("text")),
        thread_id=reply.get("thread_message_id"),
        data={
            "eventsub_id": event_id,
            "fragments": message.get("fragments") or [],
            "message_type": event.get("message_type"),
            "reply_parent_message_id": reply.get("parent_message_id"),
            "cheer": event.get("cheer"),
            "reward_id": event.get("channel_points_custom_reward_id"),
        },
    )


def _simple(
    kind: EventType, *fields: str, text: str | None = None
) -> Callable[[Payload, str], Event]:
    """Normaliser for events whose user is ``user_*`` (or null) and details are plain fields."""

    def normalise(event: Payload, event_id: str) -> Event:
        return Event(
            id=event_id,
            type=kind,
            **_place(event),
            user=_optional_user(event),
            text=_clip(_dig(event, text)) if text else "",
            data={name: event.get(name) for name in fields},
        )

    return normalise


def _dig(event: Payload, path: str) -> object:
    """``a.b`` lookups that tolerate missing or null parents."""
    value: object = event
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def raid(event: Payload, event_id: str) -> Event:
    """``channel.raid``: the raider is the user; the raided channel is where we are."""
    return Event(
        id=event_id,
        type=EventType.raid,
        **_place(event, "to_broadcaster"),
        user=_user(event, "from_broadcaster_user"),
        data={"viewers": event.get("viewers")},
    )


def _stream(kind: EventType) -> Callable[[Payload, str], Event]:
    def normalise(event: Payload, event_id: str) -> Event:
        data = {"stream_id": event.get("id"), "type": event.get("type")}
        data["started_at"] = event.get("started_at")
        return Event(id=event_id, type=kind, **_place(event), data=data)

    return normalise


NORMALISERS: dict[str, Callable[[Payload, str], Event]] = {
    "channel.chat.message": chat_message,
    "channel.follow": _simple(EventType.follow, "followed_at"),
    "channel.subscribe": _simple(EventType.subscribe, "tier", "is_gift"),
    "channel.subscription.gift": _simple(
        EventType.gift_subscription, "tier", "total", "cumulative_total", "is_anonymous"
    ),
    "channel.subscription.message": _simple(
        EventType.resubscribe,
        "tier",
        "cumulative_months",
        "streak_months",
        "duration_months",
        text="message.text",
    ),
    "channel.cheer": _simple(EventType.cheer, "bits", "is_anonymous", text="message"),
    "channel.raid": raid,
    "stream.online": _stream(EventType.stream_online),
    "stream.offline": _stream(EventType.stream_offline),
    "channel.channel_points_custom_reward_redemption.add": _simple(
        EventType.redemption, "id", "reward", "status", "redeemed_at", text="user_input"
    ),
}


def normalise(subscription_type: str, event: Payload, event_id: str) -> Event | None:
    """The Event for one notification; None for a type we do not handle."""
    handler = NORMALISERS.get(subscription_type)
    if handler is None:
        return None
    try:
        return handler(event, event_id)
    except (ValidationError, KeyError, TypeError, AttributeError) as error:
        raise MalformedNotification(f"{subscription_type}: {error}") from None
