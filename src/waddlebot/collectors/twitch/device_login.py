"""The bot account's device code login (``waddlebot twitch login``): no redirect URL, no
public address and no client secret needed, so it works on a laptop behind a home router.

We ask the OAuth server's ``/device`` endpoint for a code, the operator enters it at the
``verification_uri`` (https://www.twitch.tv/activate), and we poll ``/token`` with the
device-code grant every ``interval`` seconds (RFC 8628: ``authorization_pending`` → wait,
``slow_down`` → wait longer) until Twitch hands out the tokens, which are then validated and
sealed exactly as the authorisation-code flow stores them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from waddlebot.collectors.twitch.auth import TwitchAuth, TwitchAuthError, UserToken
from waddlebot.collectors.twitch.settings import BOT_SCOPES
from waddlebot.kernel.observability.logging import Category, get_logger, log_event

logger = get_logger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP = 5.0  # RFC 8628 §3.5: add 5 s to the interval on every slow_down


class DeviceLoginFailed(TwitchAuthError):
    """The login ended without tokens: the code expired, or the account owner declined."""


@dataclass(frozen=True, slots=True)
class DeviceCode:
    device_code: str
    user_code: str
    verification_uri: str
    expires_at: float  # time.monotonic() deadline
    interval: float


async def request_code(auth: TwitchAuth) -> DeviceCode:
    """Ask for a device code and the user code the account owner types in."""
    answer = await auth.post_oauth("device", {"scopes": " ".join(BOT_SCOPES)})
    body = _json(answer)
    if answer.status_code != httpx.codes.OK or not body.get("device_code"):
        raise TwitchAuthError(f"device code request refused ({answer.status_code}: {_says(body)})")
    return DeviceCode(
        device_code=str(body["device_code"]),
        user_code=str(body["user_code"]),
        verification_uri=str(body.get("verification_uri") or "https://www.twitch.tv/activate"),
        expires_at=time.monotonic() + float(body.get("expires_in", 1800)),
        interval=max(float(body.get("interval", 5)), 0.0),
    )


async def wait_for_tokens(
    auth: TwitchAuth,
    code: DeviceCode,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> UserToken:
    """Poll until the owner approves, then validate and store the bot account's tokens."""
    interval = code.interval
    form = {
        "grant_type": DEVICE_GRANT,
        "device_code": code.device_code,
        "scopes": " ".join(BOT_SCOPES),
    }
    while True:
        if time.monotonic() + interval >= code.expires_at:
            raise DeviceLoginFailed("the code expired before it was entered; run the login again")
        await sleep(interval)
        answer = await auth.post_oauth("token", form)
        body = _json(answer)
        if answer.status_code == httpx.codes.OK and body.get("access_token"):
            token = await auth.accept_grant(body)
            log_event(logger, Category.AUTH, "twitch_device_login", "ok", user=token.user_id)
            return token
        reason = _says(body)
        if reason == "authorization_pending":
            continue
        if reason == "slow_down":
            interval += SLOW_DOWN_STEP
            continue
        log_event(logger, Category.AUTH, "twitch_device_login", "refused", reason=reason[:40])
        if reason in ("expired_token", "invalid device code"):
            raise DeviceLoginFailed("the code expired before it was entered; run the login again")
        if reason == "access_denied":
            raise DeviceLoginFailed("the Twitch account declined the authorisation")
        raise TwitchAuthError(f"device login refused ({answer.status_code}: {reason})")


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _says(body: dict[str, Any]) -> str:
    """The error word: Twitch puts it in ``message``, RFC 8628 servers in ``error``."""
    return str(body.get("message") or body.get("error") or "no reason given").strip().lower()
