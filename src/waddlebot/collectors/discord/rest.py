"""Discord REST with its rate limits: per-route buckets from ``X-RateLimit-*``, 429 with
``retry_after`` (route or global), and the global request limit, all shared through the
backend so several sender processes keep to one budget."""

from __future__ import annotations

from typing import Any

import httpx

from waddlebot import __version__
from waddlebot.collectors.discord.config import DiscordSettings
from waddlebot.collectors.pacing import hold_until, wait_for_slot, wait_if_held
from waddlebot.kernel.backends import KeyValue
from waddlebot.kernel.http_clients import http_client

MAX_RATE_LIMITED = 5
GLOBAL_HOLD = "discord:global"


class DiscordRateLimited(Exception):
    """Still rate limited after honouring retry_after several times."""


class DiscordHTTPError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"Discord answered {status}: {body[:300]}")
        self.status = status
        self.body = body


class DiscordRest:
    def __init__(self, kv: KeyValue, settings: DiscordSettings) -> None:
        self.kv = kv
        self.settings = settings
        headers = {"User-Agent": f"DiscordBot (https://github.com/waddlebot, {__version__})"}
        self.client = http_client(base_url=settings.api_base, headers=headers, timeout=10)

    async def close(self) -> None:
        await self.client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        route: str,
        json: Any = None,
        bot: bool = True,
        counts_globally: bool = True,
    ) -> httpx.Response:
        """Send one request under ``route``'s bucket; 2xx answers are returned, other
        answers raise :class:`DiscordHTTPError`."""
        headers: dict[str, str] = {}
        if bot:
            if not self.settings.bot_token:
                raise DiscordHTTPError(401, "WADDLEBOT_DISCORD_BOT_TOKEN is not set")
            headers["Authorization"] = f"Bot {self.settings.bot_token}"
        bucket = f"discord:route:{route}"
        for _ in range(MAX_RATE_LIMITED):
            if counts_globally:
                await wait_if_held(self.kv, GLOBAL_HOLD)
                await wait_for_slot(
                    self.kv, "discord:global", limit=self.settings.global_rate, window=1.0
                )
            await wait_if_held(self.kv, bucket)
            answer = await self.client.request(method, path, json=json, headers=headers)
            if answer.status_code == 429:
                retry, is_global = self._retry_after(answer)
                await hold_until(self.kv, GLOBAL_HOLD if is_global else bucket, retry)
                continue
            remaining = answer.headers.get("x-ratelimit-remaining")
            reset_after = answer.headers.get("x-ratelimit-reset-after")
            if remaining == "0" and reset_after:
                await hold_until(self.kv, bucket, self._seconds(reset_after), rate_limited=False)
            if answer.status_code >= 400:
                raise DiscordHTTPError(answer.status_code, answer.text)
            return answer
        raise DiscordRateLimited(f"{method} {path} still rate limited")

    def _retry_after(self, answer: httpx.Response) -> tuple[float, bool]:
        retry: object = answer.headers.get("retry-after")
        is_global = answer.headers.get("x-ratelimit-global", "").lower() == "true"
        try:
            body = answer.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            retry = body.get("retry_after", retry)
            is_global = is_global or bool(body.get("global"))
        return self._seconds(retry), is_global

    def _seconds(self, value: object) -> float:
        try:
            seconds = float(str(value))
        except ValueError:
            seconds = 1.0
        return min(max(seconds, 0.05), self.settings.max_retry_after)
