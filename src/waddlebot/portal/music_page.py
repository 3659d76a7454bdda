"""The portal's music page: the song-request queue (remove, move up or down, clear), the
song-request settings, the Spotify connection, and the YouTube player overlay's URL.

The page needs ``music.manage`` (what the queue and settings REST writes need); connecting
and disconnecting Spotify need ``spotify.connect`` as the REST routes do. Settings are
validated by the REST API's own ``SettingsIn`` and every change goes through the same
``MusicQueue`` and ``SpotifyAccounts``. Nothing here calls Spotify or YouTube: "Connect
Spotify" mints the signed PKCE login link and shows it (a link, not a redirect, because the
portal's Content-Security-Policy lets forms post only to the portal itself).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status

from waddlebot.kernel.errors import Conflict, Invalid, NotFound
from waddlebot.portal.form_tools import back, checked, lines, notice_of
from waddlebot.portal.web import Who, audit, enter_community, one, read_form, render, runtime_of

PERMISSION = "music.manage"
CONNECT = "spotify.connect"
OVERLAYS = "overlays.manage"
ENTRY = re.compile(r"^[A-Za-z0-9]{1,32}$")
NUMBERS = ("max_per_user", "max_length_seconds", "voteskip_votes", "voteskip_percent", "volume")
SWITCHES = ("requests_open", "explicit_filter", "subscriber_only")
NOTICES = {
    "music-saved": "Saved the song-request settings.",
    "song-removed": "Removed {name} from the queue.",
    "song-moved": "Moved {name}.",
    "queue-cleared": "Cleared the queue ({name} removed).",
    "spotify-disconnected": "Disconnected Spotify: song requests no longer reach it.",
}


def _form_of(row: Any) -> dict[str, Any]:
    form: dict[str, Any] = {"provider": row.provider}
    form.update({name: str(getattr(row, name)) for name in NUMBERS})
    form.update({name: bool(getattr(row, name)) for name in SWITCHES})
    form["banned_tracks"] = "\n".join(str(t) for t in row.banned_tracks or [])
    form["banned_artists"] = "\n".join(str(a) for a in row.banned_artists or [])
    return form


def _queue(request: Request) -> Any:
    from waddlebot.modules.music.queue import MusicQueue
    from waddlebot.sdk.web import database

    return MusicQueue(database(request))


async def _player_url(request: Request, community_id: str) -> str | None:
    """The ``player`` overlay URL, only for those who may see overlay URLs at all."""
    from waddlebot.overlays.tokens import OverlayTokens

    if OVERLAYS not in request.state.here.allowed:
        return None
    runtime = runtime_of(request)
    urls = await OverlayTokens(runtime.db, runtime.backend, runtime.settings).urls(community_id)
    return urls.get("player")


async def _page(
    request: Request,
    community_id: str,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    login_url: str | None = None,
    status_code: int = 200,
) -> Response:
    from waddlebot.modules.music.queue import length_text
    from waddlebot.modules.music.spotify_web import accounts_of

    queue = _queue(request)
    entries = await queue.entries(community_id)
    playing = entries[0] if entries and entries[0].status == "playing" else None
    accounts = accounts_of(request)
    return render(
        request,
        "modules_pages/music.html",
        {
            "playing": playing,
            "waiting": entries[1:] if playing else entries,
            "length": length_text,
            "form": form or _form_of(await queue.settings(community_id)),
            "spotify": await accounts.connection(community_id),
            "spotify_set_up": bool(accounts.config.client_id),
            "may_connect": CONNECT in request.state.here.allowed,
            "login_url": login_url,
            "player_url": await _player_url(request, community_id),
            "errors": errors or {},
            "notice": notice_of(request, NOTICES),
        },
        status_code=status_code,
    )


def _entry(text: str) -> str:
    if not ENTRY.match(text):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "That song is not in the queue.")
    return text


def add_music_page(api: APIRouter) -> None:
    """Add the music page and its forms to the portal's router."""

    @api.get("/c/{community_id}/music")
    async def music(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, PERMISSION)
        return await _page(request, community_id)

    @api.post("/c/{community_id}/music")
    async def save_music(community_id: str, request: Request, viewer: Who) -> Response:
        """Change the settings as ``PATCH …/settings`` does (the same model and manager)."""
        from waddlebot.modules.music.api import SettingsIn, save_settings

        await enter_community(request, viewer, community_id, PERMISSION)
        fields = await read_form(request)
        form: dict[str, Any] = {"provider": one(fields, "provider", 20)}
        form.update({name: one(fields, name, 20).strip() for name in NUMBERS})
        form.update({name: one(fields, name) == "on" for name in SWITCHES})
        form["banned_tracks"] = one(fields, "banned_tracks", 60_000)
        form["banned_artists"] = one(fields, "banned_artists", 60_000)
        data = {
            **form,
            "banned_tracks": lines(form["banned_tracks"]),
            "banned_artists": lines(form["banned_artists"]),
        }
        body, errors = checked(SettingsIn, data)
        if body is not None:
            changes = body.model_dump(exclude_none=True)
            await save_settings(request, community_id, changes)
            audit(request, "music_settings", community=community_id)
            return back(request, f"/c/{community_id}/music", "music-saved")
        audit(request, "music_settings", "refused", community=community_id, fields=",".join(errors))
        return await _page(
            request,
            community_id,
            form=form,
            errors=errors,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @api.post("/c/{community_id}/music/queue/{entry_id}/{action}")
    async def change_entry(
        community_id: str, entry_id: str, action: str, request: Request, viewer: Who
    ) -> Response:
        """Remove a waiting song, or move it (``position``: 1 = next), as REST does."""
        await enter_community(request, viewer, community_id, PERMISSION)
        fields = await read_form(request)
        if action not in ("remove", "move"):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such action.")
        entry = _entry(entry_id)
        queue = _queue(request)
        try:
            if action == "remove":
                label = (await queue.remove(community_id, entry)).label
            else:
                position = max(1, min(int(one(fields, "position", 5) or "0"), 1000))
                moved = await queue.move(community_id, entry, position)
                label = next((e.label for e in moved if e.id == entry), "the song")
        except ValueError:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "No position given.") from None
        except (Invalid, Conflict, NotFound) as refused:
            audit(request, f"music_{action}", "refused", community=community_id, entry=entry)
            return await _page(
                request,
                community_id,
                errors={f"entry-{entry}": refused.message},
                status_code=refused.status,
            )
        audit(request, f"music_{action}", community=community_id, entry=entry)
        notice = "song-removed" if action == "remove" else "song-moved"
        return back(request, f"/c/{community_id}/music", notice, label)

    @api.post("/c/{community_id}/music/clear")
    async def clear(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, PERMISSION)
        await read_form(request)
        removed = await _queue(request).clear(community_id)
        audit(request, "music_clear", community=community_id, removed=removed)
        songs = f"{removed} song" + ("" if removed == 1 else "s")
        return back(request, f"/c/{community_id}/music", "queue-cleared", songs)

    @api.post("/c/{community_id}/music/spotify/{action}")
    async def spotify(community_id: str, action: str, request: Request, viewer: Who) -> Response:
        """``connect``: mint the PKCE login link (shown, valid 10 minutes); ``disconnect``:
        forget the tokens. Both need ``spotify.connect`` (and the page ``music.manage``)."""
        from waddlebot.modules.music.spotify_web import accounts_of

        here = await enter_community(request, viewer, community_id, PERMISSION)
        if CONNECT not in here.allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"You need the {CONNECT} permission in this community to do this.",
            )
        await read_form(request)
        if action not in ("connect", "disconnect"):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such action.")
        accounts = accounts_of(request)
        if action == "disconnect":
            if not await accounts.disconnect(community_id):
                raise NotFound("Spotify is not connected in this community.")
            audit(request, "spotify_disconnect", community=community_id)
            return back(request, f"/c/{community_id}/music", "spotify-disconnected")
        try:
            url = await accounts.login(community_id)
        except Conflict as refused:
            audit(request, "spotify_connect", "refused", community=community_id)
            return await _page(
                request, community_id, errors={"spotify": refused.message}, status_code=409
            )
        audit(request, "spotify_connect", community=community_id)
        return await _page(request, community_id, login_url=url)
