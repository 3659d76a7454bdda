"""``stream-alerts``: an SDK module that turns follows, subs, gifted subs, resubs, cheers and
raids into ``alert`` overlay actions (the alert browser source shows them one at a time).

A built-in module: the router runs it for every community (``waddlebot.modules.builtin_modules``).
"""

from __future__ import annotations

from typing import Any

from waddlebot import __version__
from waddlebot.kernel.contracts import EventType
from waddlebot.sdk import Context, Module

ALERTED = (
    EventType.follow,
    EventType.subscribe,
    EventType.resubscribe,
    EventType.gift_subscription,
    EventType.cheer,
    EventType.raid,
)
# A file uploaded as overlay media (POST /api/browser-sources/v1/communities/{id}/media).
MEDIA_REF = r"^media:[A-Za-z0-9][A-Za-z0-9_-]{0,59}\.[A-Za-z0-9]{2,5}$"


def _media_settings() -> dict[str, Any]:
    """``<event>_image`` / ``<event>_sound`` per alerted event: flat strings, so the
    portal's module form shows them as plain fields."""
    properties: dict[str, Any] = {}
    for event in ALERTED:
        label = event.value.replace("_", " ")
        for field, what in (("image", "image"), ("sound", "sound")):
            properties[f"{event.value}_{field}"] = {
                "type": "string",
                "pattern": MEDIA_REF,
                "description": f"An uploaded {what} for {label} alerts, as media:NAME",
            }
    return {"type": "object", "properties": properties}


module = Module(
    "stream-alerts",
    version=__version__,
    description="On-stream alerts for follows, subscriptions, cheers and raids.",
    config_schema=_media_settings(),
)

TIERS = {"1000": "Tier 1", "2000": "Tier 2", "3000": "Tier 3"}


def _number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def alert_content(ctx: Context) -> dict[str, Any]:
    """What the alert says for the event in ``ctx`` (plain text; the hub sanitises again)."""
    event = ctx.event
    data = event.data
    user = event.user.display_name or event.user.name if event.user else None
    content: dict[str, Any] = {"event": event.type.value, "user": user or "Someone"}
    tier = TIERS.get(str(data.get("tier")))
    if event.type is EventType.follow:
        content["title"] = "just followed!"
    elif event.type is EventType.subscribe:
        content["title"] = "just subscribed!"
        content["amount"] = tier
    elif event.type is EventType.resubscribe:
        months = _number(data.get("cumulative_months"))
        content["title"] = f"resubscribed for {months} months!" if months else "resubscribed!"
        content["text"] = event.text or None
        content["amount"] = tier
    elif event.type is EventType.gift_subscription:
        total = _number(data.get("total")) or 1
        content["title"] = f"gifted {total} sub{'s' if total != 1 else ''}!"
        if data.get("is_anonymous"):
            content["user"] = "An anonymous gifter"
    elif event.type is EventType.cheer:
        bits = _number(data.get("bits")) or 0
        content["title"] = f"cheered {bits} bits!"
        content["text"] = event.text or None
        if data.get("is_anonymous"):
            content["user"] = "Anonymous"
    elif event.type is EventType.raid:
        viewers = _number(data.get("viewers"))
        content["title"] = "is raiding" + (f" with {viewers} viewers!" if viewers else "!")
    for field in ("image", "sound"):  # the community's uploaded media for this event
        configured = ctx.config.get(f"{event.type.value}_{field}")
        if isinstance(configured, str) and configured:
            content[field] = configured
    return {key: value for key, value in content.items() if value is not None}


@module.on_event(*ALERTED)
async def alert(ctx: Context) -> None:
    ctx.overlay("alert", alert_content(ctx))
