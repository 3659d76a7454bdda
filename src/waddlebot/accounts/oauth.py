"""OAuth "log in with" for Twitch, Discord and Slack (Sign in with Slack / OpenID Connect).

Each provider is a few URLs and the way to read the account's id and name; every base URL
comes from settings so tests point them at a fake provider on loopback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from waddlebot.kernel.settings import Settings

PROVIDERS = ("twitch", "discord", "slack")


class ProviderError(Exception):
    """The provider refused the code or answered something unusable; the message says what."""


@dataclass(frozen=True, slots=True)
class ProviderAccount:
    """Who the provider says logged in."""

    platform: str
    user_id: str
    name: str
    server_id: str | None = None  # Slack: the workspace (team) id


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    user_url: str
    scope: str

    def authorize(self, *, redirect_uri: str, state: str) -> str:
        """The URL the browser is sent to."""
        query = {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": self.scope,
            "state": state,
        }
        return f"{self.authorize_url}?{urlencode(query)}"

    async def account(
        self, client: httpx.AsyncClient, *, code: str, redirect_uri: str
    ) -> ProviderAccount:
        """Exchange ``code`` for a token and read the account it belongs to."""
        token = await self._token(client, code=code, redirect_uri=redirect_uri)
        headers = {"Authorization": f"Bearer {token}"}
        if self.name == "twitch":
            headers["Client-Id"] = self.client_id
        response = await _call(client.get(self.user_url, headers=headers), "user lookup")
        body = _json(response, "user lookup")
        return _read_account(self.name, body)

    async def _token(self, client: httpx.AsyncClient, *, code: str, redirect_uri: str) -> str:
        form = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "code": code,
            "grant_type": "authorization_code",
            "redirect_uri": redirect_uri,
        }
        response = await _call(client.post(self.token_url, data=form), "code exchange")
        body = _json(response, "code exchange")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ProviderError(f"{self.name} did not return an access token")
        return token


async def _call(request: Any, what: str) -> httpx.Response:
    try:
        response: httpx.Response = await request
    except httpx.HTTPError as failure:
        raise ProviderError(f"{what} failed: {type(failure).__name__}") from None
    if response.status_code >= 400:
        raise ProviderError(f"{what} refused (HTTP {response.status_code})")
    return response


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ProviderError(f"{what} answered something that is not JSON") from None
    if not isinstance(body, dict):
        raise ProviderError(f"{what} answered an unexpected shape")
    if body.get("ok") is False:  # Slack reports errors in a 200
        raise ProviderError(f"{what} refused ({body.get('error', 'unknown error')})")
    return body


def _read_account(platform: str, body: dict[str, Any]) -> ProviderAccount:
    if platform == "twitch":
        data = body.get("data")
        first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        user_id, name = first.get("id"), first.get("display_name") or first.get("login")
        server = None
    elif platform == "discord":
        user_id, name = body.get("id"), body.get("global_name") or body.get("username")
        server = None
    else:
        user_id = body.get("https://slack.com/user_id") or body.get("sub")
        name = body.get("name") or body.get("given_name") or user_id
        server = body.get("https://slack.com/team_id")
    if not isinstance(user_id, str) or not user_id or len(user_id) > 200:
        raise ProviderError(f"{platform} did not say which account logged in")
    display = str(name)[:200] if name else user_id
    return ProviderAccount(
        platform=platform,
        user_id=user_id,
        name=display,
        server_id=str(server)[:200] if isinstance(server, str) and server else None,
    )


def provider(settings: Settings, name: str) -> Provider | None:
    """The configured provider ``name``, or None when it is unknown or has no app credentials."""
    if name == "twitch":
        from waddlebot.collectors.twitch.settings import TwitchSettings

        twitch = TwitchSettings()
        client_id = settings.oauth_twitch_client_id or twitch.client_id
        secret = settings.oauth_twitch_client_secret or twitch.client_secret
        auth = settings.oauth_twitch_auth_base.rstrip("/")
        urls = (f"{auth}/authorize", f"{auth}/token")
        user_url = f"{settings.oauth_twitch_api_base.rstrip('/')}/users"
        scope = ""
    elif name == "discord":
        from waddlebot.collectors.discord.config import DiscordSettings

        client_id = settings.oauth_discord_client_id or DiscordSettings().application_id
        secret = settings.oauth_discord_client_secret
        base = settings.oauth_discord_base.rstrip("/")
        urls = (f"{base}/oauth2/authorize", f"{base}/api/oauth2/token")
        user_url = f"{base}/api/users/@me"
        scope = "identify"
    elif name == "slack":
        from waddlebot.collectors.slack.config import SlackSettings

        slack = SlackSettings()
        client_id = settings.oauth_slack_client_id or slack.client_id
        secret = settings.oauth_slack_client_secret or slack.client_secret
        base = settings.oauth_slack_base.rstrip("/")
        urls = (f"{base}/openid/connect/authorize", f"{base}/api/openid.connect.token")
        user_url = f"{base}/api/openid.connect.userInfo"
        scope = "openid profile"
    else:
        return None
    if not client_id or not secret:
        return None
    return Provider(name, client_id, secret, urls[0], urls[1], user_url, scope)
