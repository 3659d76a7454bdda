"""Spotify over HTTP: the OAuth redirect at the site's root (``/auth/spotify/callback``, the
``redirect_uri`` registered in the Spotify app) and the connection's admin routes under
``/api/music/v1/communities/{community_id}/spotify``."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Annotated

from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from waddlebot.kernel.errors import NotFound, Refusal
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.modules.music.module import module
from waddlebot.modules.music.spotify_auth import (
    CALLBACK_PATH,
    STATE_MAX_AGE,
    ConnectionInfo,
    SpotifyAccounts,
    SpotifyConfig,
)
from waddlebot.sdk.web import Principal, Reader, actor, database, needs, secrets, settings

logger = get_logger(__name__)

api = module.api()
web = module.web()
PERMISSION = "spotify.connect"


class SpotifyConnectionOut(BaseModel):
    """The connected account (tokens are never shown)."""

    spotify_user_id: str
    display_name: str
    scopes: list[str]
    expires_at: datetime
    connected_at: datetime


class LoginUrlOut(BaseModel):
    url: str
    expires_in: int


def accounts_of(request: Request) -> SpotifyAccounts:
    return SpotifyAccounts(
        database(request), secrets(request), SpotifyConfig.from_settings(settings(request))
    )


def _out(info: ConnectionInfo) -> SpotifyConnectionOut:
    return SpotifyConnectionOut(
        spotify_user_id=info.spotify_user_id,
        display_name=info.display_name,
        scopes=info.scopes.split(),
        expires_at=info.expires_at,
        connected_at=info.connected_at,
    )


def _page(title: str, text: str, status: int) -> HTMLResponse:
    body = (
        "<!doctype html><meta charset=utf-8><title>WaddleBot · Spotify</title>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
    )
    return HTMLResponse(body, status_code=status)


@web.get(CALLBACK_PATH, include_in_schema=False)
async def spotify_callback(
    request: Request, code: str = "", state: str = "", error: str = ""
) -> HTMLResponse:
    """Where Spotify sends the broadcaster back: open (a browser redirect), trusted only
    through the signed ``state`` and the PKCE exchange."""
    if error or not code or not state:
        reason = error or "no authorization code"
        return _page("Spotify was not connected", f"Spotify said: {reason}.", 400)
    try:
        info = await accounts_of(request).connect(code, state, who="oauth")
    except Refusal as refusal:
        return _page("Spotify was not connected", refusal.message, refusal.status)
    log_event(
        logger,
        Category.AUDIT,
        "spotify_connected",
        "ok",
        community_id=info.community_id,
        spotify_user=info.spotify_user_id,
    )
    return _page(
        "Spotify is connected",
        f"Song requests will play on {info.display_name}'s Spotify. You can close this tab.",
        200,
    )


@api.get("/communities/{community_id}/spotify")
async def spotify_connection(
    community_id: str, request: Request, _: Reader
) -> SpotifyConnectionOut:
    """The community's connected Spotify account."""
    info = await accounts_of(request).connection(community_id)
    if info is None:
        raise NotFound("Spotify is not connected in this community.")
    return _out(info)


@api.post("/communities/{community_id}/spotify/login")
async def spotify_login(
    community_id: str,
    request: Request,
    _: Annotated[Principal, needs(PERMISSION)],
) -> LoginUrlOut:
    """A Spotify authorize URL for this community (open it in a browser within 10 minutes)."""
    accounts = accounts_of(request)
    return LoginUrlOut(url=await accounts.login(community_id), expires_in=STATE_MAX_AGE)


@api.delete("/communities/{community_id}/spotify", status_code=204)
async def spotify_disconnect(
    community_id: str,
    request: Request,
    who: Annotated[Principal, needs(PERMISSION)],
) -> None:
    """Forget the community's Spotify tokens (song requests stop reaching Spotify)."""
    if not await accounts_of(request).disconnect(community_id):
        raise NotFound("Spotify is not connected in this community.")
    log_event(
        logger,
        Category.AUDIT,
        "spotify_disconnected",
        "ok",
        community_id=community_id,
        by=actor(who),
    )
