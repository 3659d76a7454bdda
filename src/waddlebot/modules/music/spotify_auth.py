"""Connecting a community's Spotify account: Authorization Code with PKCE, sealed tokens,
refresh before expiry.

The broadcaster opens the URL ``waddlebot spotify login-url COMMUNITY`` prints; Spotify sends
the browser back to ``{WADDLEBOT_PUBLIC_URL}/auth/spotify/callback`` with a code, and
:meth:`SpotifyAccounts.connect` exchanges it. Nothing is kept server-side between the two
steps: the ``state`` is signed (purpose ``spotify-login``, 10 minutes) and carries the
community and the PKCE ``code_verifier`` *sealed* with the installation's keys, so the browser
never sees the verifier in clear and any process (CLI, another router) can finish the flow.

Tokens are stored sealed in ``spotify_connections``; :meth:`SpotifyAccounts.access_token`
refreshes a minute before expiry under a row lock (a refresh token may be single-use, so two
processes must not both spend it) and keeps whatever refresh token Spotify returns.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import delete, select, text

from waddlebot.kernel.errors import Conflict, Invalid, NotFound, Refusal
from waddlebot.kernel.observability.metrics import TOKEN_REFRESH_FAILURES
from waddlebot.kernel.security.signed_state import StateSigner
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Community, as_utc
from waddlebot.modules.music.spotify_models import SpotifyConnection
from waddlebot.sdk.database import ModuleDatabase
from waddlebot.sdk.secrets import SecretOperations

SCOPES = "user-read-currently-playing user-read-playback-state user-modify-playback-state"
CALLBACK_PATH = "/auth/spotify/callback"
STATE_PURPOSE = "spotify-login"
STATE_MAX_AGE = 600  # seconds the broadcaster has to approve in the browser
REFRESH_MARGIN = timedelta(seconds=60)  # refresh this long before the access token expires
TIMEOUT = 10.0


# --- refusals (each message is a chat answer) ----------------------------------------------


class SpotifyNotSetUp(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "Spotify is not set up on this WaddleBot (WADDLEBOT_SPOTIFY_CLIENT_ID is missing)."
        )


class SpotifyNotConnected(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "Spotify is not connected here yet: the broadcaster connects it with "
            "`waddlebot spotify login-url`."
        )


class SpotifyReconnect(Conflict):
    """The refresh token was refused (expired after six months, or access was revoked)."""

    def __init__(self) -> None:
        super().__init__(
            "Spotify needs to be reconnected (its authorization expired or was revoked): "
            "the broadcaster runs `waddlebot spotify login-url` again."
        )


class SpotifyUnavailable(Refusal):
    status = 502

    def __init__(self) -> None:
        super().__init__("Spotify did not answer properly; try again in a moment.")


class SpotifyBusy(Refusal):
    """Spotify answered 429; ``retry_after`` is its ``Retry-After`` in seconds."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Spotify is busy right now; try again in {retry_after}s.")
        self.retry_after = retry_after


# --- configuration and PKCE ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpotifyConfig:
    """The installation's Spotify app and where Spotify lives (tests point these elsewhere)."""

    client_id: str | None
    client_secret: str | None
    api_base: str
    accounts_base: str
    public_url: str
    secret_key: str

    @classmethod
    def from_settings(cls, settings: Settings) -> SpotifyConfig:
        return cls(
            client_id=settings.spotify_client_id,
            client_secret=settings.spotify_client_secret,
            api_base=settings.spotify_api_base.rstrip("/"),
            accounts_base=settings.spotify_accounts_base.rstrip("/"),
            public_url=settings.public_url.rstrip("/"),
            secret_key=settings.resolved_secret_key,
        )

    @property
    def redirect_uri(self) -> str:
        return self.public_url + CALLBACK_PATH

    def app_id(self) -> str:
        if not self.client_id:
            raise SpotifyNotSetUp()
        return self.client_id


def code_verifier() -> str:
    """A PKCE verifier: 86 characters from the allowed alphabet (letters, digits, ``-_``)."""
    return secrets.token_urlsafe(64)


def code_challenge(verifier: str) -> str:
    """base64url(SHA-256(verifier)) without ``=`` padding (``S256``)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def login_url(config: SpotifyConfig, box: SecretOperations, community_id: str) -> str:
    """The authorize URL for ``community_id``; valid for :data:`STATE_MAX_AGE` seconds."""
    verifier = code_verifier()
    state = StateSigner(config.secret_key, STATE_PURPOSE).sign(
        {"community": community_id, "verifier": box.seal(verifier)}
    )
    query = urlencode(
        {
            "client_id": config.app_id(),
            "response_type": "code",
            "redirect_uri": config.redirect_uri,
            "code_challenge_method": "S256",
            "code_challenge": code_challenge(verifier),
            "scope": SCOPES,
            "state": state,
        }
    )
    return f"{config.accounts_base}/authorize?{query}"


def read_state(config: SpotifyConfig, box: SecretOperations, state: str) -> tuple[str, str]:
    """(community id, code_verifier) from a ``state`` we minted; a refusal otherwise."""
    try:
        payload = StateSigner(config.secret_key, STATE_PURPOSE).verify(state, max_age=STATE_MAX_AGE)
        return str(payload["community"]), box.unseal(str(payload["verifier"]))
    except Exception as error:  # forged, expired, other keys, malformed: the same answer
        raise Invalid(
            "This Spotify login link is invalid or has expired; print a new one with "
            "`waddlebot spotify login-url`."
        ) from error


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """What may be shown about a connection (never the tokens)."""

    community_id: str
    spotify_user_id: str
    display_name: str
    scopes: str
    expires_at: datetime
    connected_at: datetime


def _info(row: SpotifyConnection) -> ConnectionInfo:
    return ConnectionInfo(
        community_id=row.community_id,
        spotify_user_id=row.spotify_user_id,
        display_name=row.display_name,
        scopes=row.scopes,
        expires_at=as_utc(row.expires_at),
        connected_at=as_utc(row.connected_at),
    )


class SpotifyAccounts:
    """The one place that reads and writes ``spotify_connections`` (chat, REST and CLI)."""

    def __init__(
        self,
        db: ModuleDatabase,
        box: SecretOperations,
        config: SpotifyConfig,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.box = box
        self.config = config
        self.clock = clock or (lambda: datetime.now(UTC))

    # --- connecting --------------------------------------------------------------------

    async def login(self, community_id: str) -> str:
        """A login URL for an existing community (see :func:`login_url`)."""
        await self._community(community_id)
        return login_url(self.config, self.box, community_id)

    async def _community(self, community_id: str) -> None:
        async with self.db.read_session() as session:
            found = await session.scalar(select(Community.id).where(Community.id == community_id))
        if found is None:
            raise NotFound("That community does not exist.")

    async def connect(self, code: str, state: str, *, who: str = "") -> ConnectionInfo:
        """Finish the login: exchange ``code`` (with the verifier from ``state``), learn whose
        account it is, and store the tokens sealed (replacing an earlier connection)."""
        community_id, verifier = read_state(self.config, self.box, state)
        await self._community(community_id)  # it may have been deleted meanwhile
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.redirect_uri,
            "client_id": self.config.app_id(),
            "code_verifier": verifier,
        }
        tokens = await self._token_request(form, refusing=_bad_code)
        refresh = tokens.get("refresh_token")
        if not isinstance(refresh, str) or not refresh:
            raise SpotifyUnavailable()
        profile = await self._profile(str(tokens["access_token"]))
        now = self.clock()
        async with self.db.session() as session:
            row = await session.scalar(
                select(SpotifyConnection).where(SpotifyConnection.community_id == community_id)
            )
            if row is None:
                row = SpotifyConnection(community_id=community_id)
                session.add(row)
            row.spotify_user_id = str(profile.get("id") or "")
            row.display_name = str(profile.get("display_name") or profile.get("id") or "")
            row.access_token_sealed = self.box.seal(str(tokens["access_token"]))
            row.refresh_token_sealed = self.box.seal(refresh)
            row.expires_at = now + timedelta(seconds=_lifetime(tokens))
            row.scopes = str(tokens.get("scope") or "")
            row.connected_by = who
            row.connected_at = now
            await session.flush()
            return _info(row)

    async def disconnect(self, community_id: str) -> bool:
        """Forget the community's tokens; False when it was not connected."""
        async with self.db.session() as session:
            result = await session.execute(
                delete(SpotifyConnection).where(SpotifyConnection.community_id == community_id)
            )
        return bool(getattr(result, "rowcount", 0))

    async def connection(self, community_id: str) -> ConnectionInfo | None:
        async with self.db.read_session() as session:
            row = await session.scalar(
                select(SpotifyConnection).where(SpotifyConnection.community_id == community_id)
            )
            return None if row is None else _info(row)

    # --- tokens ------------------------------------------------------------------------

    async def access_token(self, community_id: str, *, rejected: str | None = None) -> str:
        """A working access token, refreshed first when it expires within a minute (or when
        Spotify just rejected ``rejected``, the token we used)."""
        async with self.db.read_session() as session:
            row = await session.scalar(
                select(SpotifyConnection).where(SpotifyConnection.community_id == community_id)
            )
            if row is None:
                raise SpotifyNotConnected()
            token = self.box.unseal(row.access_token_sealed)
            if not self._stale(row, token, rejected):
                return token
        return await self._refresh(community_id, rejected)

    def _stale(self, row: SpotifyConnection, token: str, rejected: str | None) -> bool:
        return token == rejected or as_utc(row.expires_at) - REFRESH_MARGIN <= self.clock()

    async def _refresh(self, community_id: str, rejected: str | None) -> str:
        """Refresh under a row lock; whoever waited finds the fresh token and uses it."""
        query = select(SpotifyConnection).where(SpotifyConnection.community_id == community_id)
        if self.db.dialect == "postgresql":
            query = query.with_for_update()
        async with self.db.session() as session:
            if self.db.dialect == "sqlite":  # take the write lock before reading, like a row lock
                await session.execute(text("UPDATE spotify_connections SET id = id WHERE 0"))
            row = await session.scalar(query)
            if row is None:
                raise SpotifyNotConnected()
            token = self.box.unseal(row.access_token_sealed)
            if not self._stale(row, token, rejected):
                return token  # another process refreshed while we waited for the lock
            form = {
                "grant_type": "refresh_token",
                "refresh_token": self.box.unseal(row.refresh_token_sealed),
                "client_id": self.config.app_id(),
            }
            try:
                tokens = await self._token_request(form, refusing=_reconnect)
            except Exception:
                TOKEN_REFRESH_FAILURES.labels("spotify").inc()
                raise
            access = str(tokens["access_token"])
            row.access_token_sealed = self.box.seal(access)
            refresh = tokens.get("refresh_token")
            if isinstance(refresh, str) and refresh:
                row.refresh_token_sealed = self.box.seal(refresh)
            row.expires_at = self.clock() + timedelta(seconds=_lifetime(tokens))
            if tokens.get("scope"):
                row.scopes = str(tokens["scope"])
            return access

    # --- Spotify's accounts service ------------------------------------------------------

    async def _token_request(
        self, form: dict[str, str], *, refusing: Callable[[], Refusal]
    ) -> dict[str, Any]:
        """POST /api/token. PKCE needs no client secret; when one is configured it is sent
        as HTTP Basic, which Spotify also accepts for confidential apps."""
        headers: dict[str, str] = {}
        if self.config.client_secret:
            pair = f"{self.config.app_id()}:{self.config.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                response = await http.post(
                    f"{self.config.accounts_base}/api/token", data=form, headers=headers
                )
        except httpx.HTTPError:
            raise SpotifyUnavailable() from None
        if response.status_code in (400, 401):
            raise refusing()
        if response.status_code == 429:
            raise SpotifyBusy(retry_after(response))
        if response.status_code != 200:
            raise SpotifyUnavailable()
        body = _json(response)
        if not isinstance(body.get("access_token"), str):
            raise SpotifyUnavailable()
        return body

    async def _profile(self, access_token: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                response = await http.get(
                    f"{self.config.api_base}/me",
                    headers={"Authorization": f"Bearer {access_token}"},
                )
        except httpx.HTTPError:
            raise SpotifyUnavailable() from None
        if response.status_code != 200:
            raise SpotifyUnavailable()
        return _json(response)


def _lifetime(tokens: dict[str, Any]) -> int:
    """``expires_in`` seconds (Spotify says 3600), defensively."""
    try:
        return max(60, int(tokens.get("expires_in") or 3600))
    except (TypeError, ValueError):
        return 3600


def _bad_code() -> Refusal:
    return Invalid(
        "Spotify refused the login (the code was used or expired); print a new link with "
        "`waddlebot spotify login-url`."
    )


def _reconnect() -> Refusal:
    return SpotifyReconnect()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise SpotifyUnavailable() from None
    if not isinstance(body, dict):
        raise SpotifyUnavailable()
    return body


def retry_after(response: httpx.Response, default: int = 5) -> int:
    """Spotify's ``Retry-After`` in whole seconds (at least 1)."""
    try:
        return max(1, int(float(response.headers.get("Retry-After", default))))
    except ValueError:
        return default
