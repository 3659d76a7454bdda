"""A thin Helix client over httpx: the right token and Client-Id on every call, one renewal
on 401, and typed errors for what callers must tell apart (rate limited, transient, refused).

Every URL is built from ``WADDLEBOT_TWITCH_API_BASE``, so tests and proxies redirect it all.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from waddlebot.collectors.twitch.auth import HelixError, TwitchAuth
from waddlebot.collectors.twitch.settings import TwitchSettings


def error_from(answer: httpx.Response) -> HelixError:
    """A HelixError carrying Twitch's message and, for 429, the seconds until the reset."""
    try:
        message = str(answer.json().get("message") or answer.text)
    except ValueError:
        message = answer.text
    retry_after = None
    if answer.status_code == httpx.codes.TOO_MANY_REQUESTS:
        retry_after = reset_delay(answer.headers.get("ratelimit-reset"))
    return HelixError(answer.status_code, message[:300], retry_after=retry_after)


def reset_delay(header: str | None, *, default: float = 1.0) -> float:
    """Seconds until ``Ratelimit-Reset`` (epoch seconds); ``default`` when absent or odd."""
    try:
        return max(float(header) - time.time(), 0.0) if header else default
    except ValueError:
        return default


class HelixClient:
    def __init__(self, settings: TwitchSettings, auth: TwitchAuth, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.auth = auth
        self.http = http

    async def request(
        self,
        method: str,
        path: str,
        *,
        user: bool = False,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """Call Helix with the app token (or the bot's user token, also whenever there is no
        client secret); renew once on 401."""
        token = await self._token(user, stale=None)
        answer = await self._send(method, path, token, params, json)
        if answer.status_code == httpx.codes.UNAUTHORIZED:
            token = await self._token(user, stale=token)
            answer = await self._send(method, path, token, params, json)
        return answer

    async def call(
        self,
        method: str,
        path: str,
        *,
        user: bool = False,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """:meth:`request` that raises HelixError unless 2xx; the JSON body (or {})."""
        answer = await self.request(method, path, user=user, params=params, json=json)
        if not answer.is_success:
            raise error_from(answer)
        if not answer.content:
            return {}
        body: dict[str, Any] = answer.json()
        return body

    async def _token(self, user: bool, *, stale: str | None) -> str:
        # A public client (no secret: device login, WebSocket transport) has no app token.
        if user or not self.settings.client_secret:
            return (await self.auth.user_token(stale=stale)).access_token
        return await self.auth.app_token(stale=stale)

    async def _send(
        self,
        method: str,
        path: str,
        token: str,
        params: dict[str, Any] | None,
        json: dict[str, Any] | None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", "Client-Id": self.auth.client_id}
        try:
            return await self.http.request(
                method,
                f"{self.settings.api_base}{path}",
                params=params,
                json=json,
                headers=headers,
            )
        except httpx.TransportError as error:
            raise HelixError(0, f"Twitch unreachable: {error!r}") from error

    async def user_by_login(self, login: str) -> dict[str, Any] | None:
        """``GET /users?login=``: the account, or None when Twitch knows no such login."""
        body = await self.call("GET", "/users", params={"login": login})
        data = body.get("data") or []
        return dict(data[0]) if data else None

    async def subscriptions(self, *, user: bool = False) -> AsyncIterator[dict[str, Any]]:
        """Every EventSub subscription of this app (follows the pagination cursor); with
        ``user``, the WebSocket subscriptions made with the bot's user token."""
        cursor: str | None = None
        while True:
            params = {"after": cursor} if cursor else None
            body = await self.call("GET", "/eventsub/subscriptions", user=user, params=params)
            for item in body.get("data") or []:
                yield dict(item)
            cursor = (body.get("pagination") or {}).get("cursor")
            if not cursor:
                return

    async def create_subscription(
        self,
        kind: str,
        version: str,
        condition: dict[str, str],
        transport: dict[str, str],
        *,
        user: bool = False,
    ) -> dict[str, Any]:
        """``POST /eventsub/subscriptions``; the created subscription. WebSocket transports
        need the bot's user token (``user``), webhooks and conduits the app token."""
        body = await self.call(
            "POST",
            "/eventsub/subscriptions",
            user=user,
            json={"type": kind, "version": version, "condition": condition, "transport": transport},
        )
        return dict((body.get("data") or [{}])[0])

    async def delete_subscription(self, subscription_id: str, *, user: bool = False) -> None:
        """``DELETE /eventsub/subscriptions?id=``; already gone (404) counts as deleted."""
        answer = await self.request(
            "DELETE", "/eventsub/subscriptions", user=user, params={"id": subscription_id}
        )
        if not answer.is_success and answer.status_code != httpx.codes.NOT_FOUND:
            raise error_from(answer)

    async def conduits(self) -> list[dict[str, Any]]:
        """``GET /eventsub/conduits``: this app's conduits (``id``, ``shard_count``)."""
        body = await self.call("GET", "/eventsub/conduits")
        return [dict(item) for item in body.get("data") or []]

    async def create_conduit(self, shard_count: int) -> dict[str, Any]:
        body = await self.call("POST", "/eventsub/conduits", json={"shard_count": shard_count})
        return dict((body.get("data") or [{}])[0])

    async def update_conduit(self, conduit_id: str, shard_count: int) -> dict[str, Any]:
        body = await self.call(
            "PATCH", "/eventsub/conduits", json={"id": conduit_id, "shard_count": shard_count}
        )
        return dict((body.get("data") or [{}])[0])

    async def update_shards(
        self, conduit_id: str, shards: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """``PATCH /eventsub/conduits/shards``; the per-shard errors Twitch reports."""
        body = await self.call(
            "PATCH", "/eventsub/conduits/shards", json={"conduit_id": conduit_id, "shards": shards}
        )
        return [dict(error) for error in body.get("errors") or []]

    async def shards(self, conduit_id: str) -> list[dict[str, Any]]:
        """``GET /eventsub/conduits/shards`` (every page): each shard's status and transport."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"conduit_id": conduit_id, **({"after": cursor} if cursor else {})}
            body = await self.call("GET", "/eventsub/conduits/shards", params=params)
            found.extend(dict(item) for item in body.get("data") or [])
            cursor = (body.get("pagination") or {}).get("cursor")
            if not cursor:
                return found
