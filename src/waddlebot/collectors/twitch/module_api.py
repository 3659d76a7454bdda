"""Helix for modules (:class:`waddlebot.sdk.twitch.TwitchOperations`): the few calls
interaction modules make, built on the collector's :class:`HelixClient` and :class:`TwitchAuth`.

The router hosts modules but must not import collectors, so the app hands it
:func:`module_twitch` as a factory (``RouterService(twitch=module_twitch())``). The factory
owns an HTTP client of its own; the router closes it on stop (:meth:`HelixOperations.aclose`).
Reads use the app token; the native shoutout uses the bot account's user token.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from waddlebot.collectors.twitch.auth import (
    HelixError,
    TwitchAuth,
    TwitchAuthError,
    TwitchNotConfigured,
)
from waddlebot.collectors.twitch.helix import HelixClient
from waddlebot.collectors.twitch.models import TwitchChannel as ChannelRow
from waddlebot.collectors.twitch.settings import TwitchSettings
from waddlebot.kernel.http_clients import http_client
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.storage import Database
from waddlebot.sdk.twitch import (
    TwitchApiError,
    TwitchChannel,
    TwitchClip,
    TwitchOperations,
    TwitchUser,
)

MODERATOR_CACHE = 60.0  # seconds a channel's bot_is_moderator flag is trusted


@asynccontextmanager
async def api_errors() -> AsyncIterator[None]:
    """Collector errors → the SDK's one :class:`TwitchApiError` (modules see no collector)."""
    try:
        yield
    except HelixError as error:
        raise TwitchApiError(error.status, error.message, retry_after=error.retry_after) from None
    except TwitchNotConfigured as error:
        raise TwitchApiError(401, str(error)) from None
    except TwitchAuthError as error:
        raise TwitchApiError(401, f"Twitch refused the bot's credentials: {error}") from None


def _moment(value: Any) -> datetime:
    """Helix timestamps (RFC 3339, ``Z``); the epoch for anything unreadable."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return datetime.fromtimestamp(0, UTC)


def _rfc3339(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class HelixOperations:
    """:class:`TwitchOperations` over Helix."""

    def __init__(self, helix: HelixClient, db: Database, http: httpx.AsyncClient) -> None:
        self.helix = helix
        self.db = db
        self.http = http
        self._moderates: dict[str, tuple[bool, float]] = {}

    async def user(self, login: str) -> TwitchUser | None:
        async with api_errors():
            found = await self.helix.user_by_login(login)
        if found is None:
            return None
        return TwitchUser(
            id=str(found["id"]),
            login=str(found.get("login") or login),
            display_name=str(found.get("display_name") or found.get("login") or login),
            profile_image_url=str(found.get("profile_image_url") or ""),
        )

    async def channel(self, broadcaster_id: str) -> TwitchChannel | None:
        async with api_errors():
            body = await self.helix.call(
                "GET", "/channels", params={"broadcaster_id": broadcaster_id}
            )
        data = body.get("data") or []
        if not data:
            return None
        row = data[0]
        return TwitchChannel(
            broadcaster_id=str(row.get("broadcaster_id") or broadcaster_id),
            game_name=str(row.get("game_name") or ""),
            title=str(row.get("title") or ""),
        )

    async def clips(
        self, broadcaster_id: str, *, started_at: datetime | None = None, first: int = 20
    ) -> list[TwitchClip]:
        params: dict[str, Any] = {
            "broadcaster_id": broadcaster_id,
            "first": max(1, min(first, 100)),
        }
        if started_at is not None:
            params["started_at"] = _rfc3339(started_at)
        async with api_errors():
            body = await self.helix.call("GET", "/clips", params=params)
        clips = [
            TwitchClip(
                id=str(item.get("id") or ""),
                url=str(item.get("url") or ""),
                embed_url=str(item.get("embed_url") or ""),
                thumbnail_url=str(item.get("thumbnail_url") or ""),
                title=str(item.get("title") or ""),
                view_count=int(item.get("view_count") or 0),
                created_at=_moment(item.get("created_at")),
            )
            for item in body.get("data") or []
            if isinstance(item, dict)
        ]
        return sorted(clips, key=lambda clip: clip.view_count, reverse=True)

    async def shoutout(self, from_broadcaster_id: str, to_broadcaster_id: str) -> None:
        async with api_errors():
            moderator = await self.helix.auth.bot_user_id()
            if moderator is None:
                raise TwitchNotConfigured("the bot account has not authorised yet")
            await self.helix.call(
                "POST",
                "/chat/shoutouts",
                user=True,
                params={
                    "from_broadcaster_id": from_broadcaster_id,
                    "to_broadcaster_id": to_broadcaster_id,
                    "moderator_id": moderator,
                },
            )

    async def bot_moderates(self, broadcaster_id: str) -> bool:
        cached = self._moderates.get(broadcaster_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        async with api_errors():
            bot = await self.helix.auth.bot_user_id()
        async with self.db.read_session() as session:
            flag = await session.scalar(
                select(ChannelRow.bot_is_moderator).where(
                    ChannelRow.broadcaster_id == broadcaster_id
                )
            )
        moderates = broadcaster_id == bot or bool(flag)
        self._moderates[broadcaster_id] = (moderates, time.monotonic() + MODERATOR_CACHE)
        return moderates

    async def aclose(self) -> None:
        await self.http.aclose()


def module_twitch(
    settings: TwitchSettings | None = None,
) -> Callable[[Runtime], TwitchOperations | None]:
    """The router's factory of Helix for modules: None while Twitch is not configured
    (``WADDLEBOT_TWITCH_CLIENT_ID``/``_CLIENT_SECRET``), so modules can say so."""

    def build(runtime: Runtime) -> TwitchOperations | None:
        chosen = settings or TwitchSettings()
        if not chosen.configured:
            return None
        http = http_client(timeout=chosen.http_timeout, follow_redirects=False)
        auth = TwitchAuth(chosen, runtime.db, runtime.settings.secret_box, http)
        return HelixOperations(HelixClient(chosen, auth, http), runtime.db, http)

    return build
