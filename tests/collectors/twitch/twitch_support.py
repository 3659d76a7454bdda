"""Helpers: deliveries signed exactly as Twitch signs them, payload builders, waiting."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.collectors.twitch.fake_twitch import BOT, STREAMER, FakeTwitch
from tests.support import LiveServer
from waddlebot.collectors.twitch.signature import sign

SECRET = "s3cr3t-for-tests-0123"
WEBHOOK = "/webhooks/twitch/eventsub"


def rfc3339(moment: datetime | None = None) -> str:
    """Twitch's format: UTC, nanosecond digits."""
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}123Z"


def subscription(kind: str, version: str = "1", **condition: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "status": "enabled",
        "type": kind,
        "version": version,
        "condition": condition or {"broadcaster_user_id": STREAMER["id"]},
        "transport": {"method": "webhook", "callback": "https://bot.example.com" + WEBHOOK},
        "created_at": "2024-03-01T12:00:00.000000000Z",
        "cost": 0,
    }


def chat_event(
    text: str,
    *,
    chatter: dict[str, str] | None = None,
    badges: tuple[str, ...] = (),
    message_id: str | None = None,
    channel: dict[str, str] = STREAMER,
) -> dict[str, Any]:
    """A ``channel.chat.message`` notification body in the documented shape, in ``channel``
    (``{"id", "login", "display_name"}``; the fake's streamer by default)."""
    who = chatter or {"id": "4145994", "login": "viewer32", "display_name": "viewer32"}
    return {
        "subscription": subscription(
            "channel.chat.message", broadcaster_user_id=channel["id"], user_id=BOT["id"]
        ),
        "event": {
            "broadcaster_user_id": channel["id"],
            "broadcaster_user_login": channel["login"],
            "broadcaster_user_name": channel["display_name"],
            "chatter_user_id": who["id"],
            "chatter_user_login": who["login"],
            "chatter_user_name": who["display_name"],
            "message_id": message_id or str(uuid.uuid4()),
            "message": {
                "text": text,
                "fragments": [
                    {
                        "type": "text",
                        "text": text,
                        "cheermote": None,
                        "emote": None,
                        "mention": None,
                    }
                ],
            },
            "message_type": "text",
            "badges": [{"set_id": badge, "id": "1", "info": ""} for badge in badges],
            "cheer": None,
            "color": "#00FF7F",
            "reply": None,
            "channel_points_custom_reward_id": None,
        },
    }


async def deliver(
    client: httpx.AsyncClient,
    body: dict[str, Any] | bytes,
    *,
    kind: str = "notification",
    secret: str = SECRET,
    message_id: str | None = None,
    timestamp: str | None = None,
    omit: tuple[str, ...] = (),
    tamper: Callable[[bytes], bytes] | None = None,
) -> httpx.Response:
    """POST a delivery signed as Twitch signs it (HMAC over id + timestamp + raw body)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    subscription_type = "" if isinstance(body, bytes) else body["subscription"]["type"]
    headers = signed_headers(
        raw, subscription_type, kind=kind, secret=secret, message_id=message_id, timestamp=timestamp
    )
    for name in omit:
        headers.pop(name)
    sent = tamper(raw) if tamper else raw
    return await client.post(WEBHOOK, content=sent, headers=headers)


def signed_headers(
    raw: bytes,
    subscription_type: str,
    *,
    kind: str = "notification",
    secret: str = SECRET,
    message_id: str | None = None,
    timestamp: str | None = None,
) -> dict[str, str]:
    """The headers Twitch sends with ``raw``: its message id, timestamp and signature."""
    message_id = message_id or str(uuid.uuid4())
    timestamp = timestamp or rfc3339()
    return {
        "Content-Type": "application/json",
        "Twitch-Eventsub-Message-Id": message_id,
        "Twitch-Eventsub-Message-Retry": "0",
        "Twitch-Eventsub-Message-Type": kind,
        "Twitch-Eventsub-Message-Signature": sign(secret, message_id, timestamp, raw),
        "Twitch-Eventsub-Message-Timestamp": timestamp,
        "Twitch-Eventsub-Subscription-Type": subscription_type,
        "Twitch-Eventsub-Subscription-Version": "1",
    }


def stale(minutes: int = 11) -> str:
    return rfc3339(datetime.now(UTC) - timedelta(minutes=minutes))


async def eventually(check: Callable[[], Any], *, timeout: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy (the value), or fail after timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


async def authorise_bot(
    bot: LiveServer, fake: FakeTwitch, user: dict[str, str] = BOT
) -> dict[str, Any]:
    """Run the real authorisation-code flow: login redirect → (Twitch) → callback."""
    login = await bot.client.get("/auth/twitch/login", headers=bot.operator)
    assert login.status_code == 302, login.text
    query = parse_qs(urlsplit(login.headers["location"]).query)
    fake.grant_code("the-code", user)
    answer = await bot.client.get(
        "/auth/twitch/callback", params={"code": "the-code", "state": query["state"][0]}
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def manager_headers(
    bot: LiveServer, scopes: tuple[str, ...] = ("twitch:manage",)
) -> dict[str, str]:
    """An API key with the Twitch management scope, as REST callers present it."""
    from waddlebot.kernel.security.api_keys import create_api_key

    key, _ = await create_api_key(bot.app.state.runtime.db, name="twitch-ops", scopes=list(scopes))
    return {"X-API-Key": key}


async def connect_streamer(bot: LiveServer, **extra: Any) -> dict[str, Any]:
    """``POST /api/twitch/v1/channels`` for the fake's streamer; the channel status."""
    answer = await bot.client.post(
        "/api/twitch/v1/channels",
        json={"login": STREAMER["login"], **extra},
        headers=await manager_headers(bot),
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body
