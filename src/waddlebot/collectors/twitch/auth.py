"""Twitch credentials: the app token (client credentials) and the bot's user token.

The app token is cached in the process and renewed when Helix answers 401 (Twitch issues no
refresh token for it). The bot's user token comes from the authorisation-code flow, is sealed
at rest with the installation's secret box, and is refreshed shortly before it expires (or on
a 401). A lock per kind keeps concurrent callers from renewing twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from waddlebot.collectors.twitch.models import TwitchToken
from waddlebot.collectors.twitch.settings import TwitchSettings
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.metrics import TOKEN_REFRESH_FAILURES
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH
from waddlebot.kernel.security.secrets_box import SecretBox
from waddlebot.kernel.storage import Database

logger = get_logger(__name__)


class HelixError(Exception):
    """Twitch answered with an error status (``status``), or could not be reached (0)."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"Twitch {status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Worth retrying later: no answer, a 5xx, or a 429."""
        return self.status == 0 or self.status >= 500 or self.status == 429


class TwitchNotConfigured(Exception):
    """Client id/secret (or the bot's authorisation) are missing."""


class TwitchAuthError(Exception):
    """Twitch's OAuth server refused (bad code, revoked refresh token, wrong credentials)."""


class WrongAccount(TwitchAuthError):
    """The account that authorised is not WADDLEBOT_TWITCH_BOT_USER_ID."""


@dataclass(frozen=True, slots=True)
class UserToken:
    user_id: str
    login: str
    access_token: str
    expires_at: datetime


class TwitchAuth:
    def __init__(
        self, settings: TwitchSettings, db: Database, box: SecretBox, http: httpx.AsyncClient
    ) -> None:
        self.settings = settings
        self.db = db
        self.box = box
        self.http = http
        self._app_token: str | None = None
        self._user_token: UserToken | None = None
        self._bot_id: str | None = None
        self._app_lock = asyncio.Lock()
        self._user_lock = asyncio.Lock()

    @property
    def client_id(self) -> str:
        if not self.settings.configured or self.settings.client_id is None:
            raise TwitchNotConfigured("set WADDLEBOT_TWITCH_CLIENT_ID and _CLIENT_SECRET")
        return self.settings.client_id

    async def app_token(self, *, stale: str | None = None) -> str:
        """The cached app token; a new one when none is cached or ``stale`` was refused."""
        async with self._app_lock:
            if self._app_token is None or self._app_token == stale:
                _ = self.client_id
                if not self.settings.client_secret:  # client credentials need the secret
                    raise TwitchNotConfigured("an app token needs WADDLEBOT_TWITCH_CLIENT_SECRET")
                try:
                    grant = await self._token_call({"grant_type": "client_credentials"})
                except Exception:
                    TOKEN_REFRESH_FAILURES.labels("twitch_app").inc()
                    raise
                self._app_token = str(grant["access_token"])
                log_event(logger, Category.AUTH, "twitch_app_token", "issued")
            return self._app_token

    async def user_token(self, *, stale: str | None = None) -> UserToken:
        """The bot's user token, refreshed when close to expiry or when ``stale`` was refused."""
        async with self._user_lock:
            token = self._user_token or await self._load()
            margin = timedelta(seconds=self.settings.refresh_margin)
            if token.access_token == stale or token.expires_at - margin <= datetime.now(UTC):
                token = await self._refresh(token.user_id)
            self._user_token = token
            return token

    async def bot_user_id(self) -> str | None:
        """The configured bot id, else the authorised bot account's id (None before login)."""
        if self.settings.bot_user_id:
            return self.settings.bot_user_id
        if self._user_token is not None:
            return self._user_token.user_id
        if self._bot_id is None:
            row = await self._row()
            self._bot_id = row.user_id if row else None
        return self._bot_id

    async def exchange_code(self, code: str, redirect_uri: str) -> UserToken:
        """Authorisation code → tokens → validated identity → sealed row."""
        grant = await self._token_call(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        )
        return await self.accept_grant(grant)

    async def accept_grant(self, grant: dict[str, Any]) -> UserToken:
        """A fresh user grant (any flow) → validated identity → the bot's sealed row."""
        identity = await self.validate(str(grant["access_token"]))
        expected = self.settings.bot_user_id
        if expected and identity["user_id"] != expected:
            raise WrongAccount(
                f"authorised account {identity['login']!r} is not the configured bot user"
            )
        return await self._store(grant, str(identity["user_id"]), str(identity["login"]))

    async def validate(self, access_token: str) -> dict[str, Any]:
        """Who a user token belongs to (``GET /validate``)."""
        answer = await self.http.get(
            f"{self.settings.auth_base}/validate",
            headers={"Authorization": f"OAuth {access_token}"},
        )
        if answer.status_code != httpx.codes.OK:
            raise TwitchAuthError(f"token validation answered {answer.status_code}")
        body: dict[str, Any] = answer.json()
        if not body.get("user_id") or not body.get("login"):
            raise TwitchAuthError("the token does not belong to a user")
        return body

    @property
    def public_client_id(self) -> str:
        """The client id alone: enough for public-client flows (device login, its refreshes)."""
        if not self.settings.client_id:
            raise TwitchNotConfigured("set WADDLEBOT_TWITCH_CLIENT_ID")
        return self.settings.client_id

    async def post_oauth(self, endpoint: str, form: dict[str, str]) -> httpx.Response:
        """POST a form to the OAuth server with our client id (and the secret when set: a
        public client has none); a 5xx or no answer raises :class:`HelixError`."""
        data = {**form, "client_id": self.public_client_id}
        if self.settings.client_secret:
            data["client_secret"] = self.settings.client_secret
        try:
            answer = await self.http.post(f"{self.settings.auth_base}/{endpoint}", data=data)
        except httpx.TransportError as error:
            raise HelixError(0, f"Twitch OAuth unreachable: {error!r}") from error
        if answer.status_code >= httpx.codes.INTERNAL_SERVER_ERROR:
            raise HelixError(answer.status_code, f"Twitch OAuth {endpoint} endpoint failed")
        return answer

    async def _token_call(self, form: dict[str, str]) -> dict[str, Any]:
        answer = await self.post_oauth("token", form)
        if answer.status_code != httpx.codes.OK:
            log_event(
                logger,
                Category.AUTH,
                "twitch_token",
                "refused",
                level="warning",
                grant=form["grant_type"],
                status=answer.status_code,
            )
            raise TwitchAuthError(f"{form['grant_type']} refused ({answer.status_code})")
        body: dict[str, Any] = answer.json()
        if not body.get("access_token"):
            raise TwitchAuthError("token endpoint returned no access_token")
        return body

    async def _row(self) -> TwitchToken | None:
        query = select(TwitchToken).order_by(TwitchToken.updated_at.desc()).limit(1)
        if self.settings.bot_user_id:
            query = query.where(TwitchToken.user_id == self.settings.bot_user_id)
        async with self.db.session() as session:
            return (await session.scalars(query)).first()

    async def _load(self) -> UserToken:
        row = await self._row()
        if row is None:
            raise TwitchNotConfigured(
                "the bot account has not authorised yet: /auth/twitch/login or "
                "waddlebot twitch login"
            )
        return UserToken(
            row.user_id,
            row.login,
            self.box.decrypt(row.access_token_sealed),
            _aware(row.expires_at),
        )

    async def _refresh(self, user_id: str) -> UserToken:
        async with self.db.session() as session:
            row = await session.get(TwitchToken, user_id)
            if row is None:
                raise TwitchNotConfigured("the bot account's token was removed")
            refresh = self.box.decrypt(row.refresh_token_sealed)
            login = row.login
        try:
            grant = await self._token_call(
                {"grant_type": "refresh_token", "refresh_token": refresh}
            )
        except Exception:
            TOKEN_REFRESH_FAILURES.labels("twitch_user").inc()
            PLATFORM_HEALTH.token("twitch", valid=False)
            raise
        log_event(logger, Category.AUTH, "twitch_user_token", "refreshed", user=user_id)
        return await self._store(grant, user_id, login, fallback_refresh=refresh)

    async def _store(
        self,
        grant: dict[str, Any],
        user_id: str,
        login: str,
        *,
        fallback_refresh: str | None = None,
    ) -> UserToken:
        access = str(grant["access_token"])
        refresh = str(grant.get("refresh_token") or fallback_refresh or "")
        expires_at = datetime.now(UTC) + timedelta(seconds=float(grant.get("expires_in", 3600)))
        scopes = grant.get("scope") or []
        async with self.db.session() as session:
            row = await session.get(TwitchToken, user_id)
            if row is None:
                row = TwitchToken(user_id=user_id)
                session.add(row)
            row.login = login
            row.access_token_sealed = self.box.encrypt(access)
            row.refresh_token_sealed = self.box.encrypt(refresh)
            row.scopes = [str(scope) for scope in scopes] if isinstance(scopes, list) else []
            row.expires_at = expires_at
        token = UserToken(user_id, login, access, expires_at)
        self._user_token = token
        PLATFORM_HEALTH.token("twitch", valid=True, expires_at=expires_at)
        return token


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
