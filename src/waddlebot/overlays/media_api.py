"""HTTP surface of overlay media: upload/list/delete under the browser-sources API
(``overlays.manage``), and the two ways files reach a browser: through an overlay page's
own token (``/overlay/{token}/media/{name}``: same origin, so the page's CSP allows it) and
the directory store's signed links (``/overlay/objects/{key}``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile, status
from fastapi.responses import Response
from pydantic import BaseModel, Field

from waddlebot.kernel.contracts.media import NAME
from waddlebot.kernel.objects.factory import SIGNED_PATH
from waddlebot.kernel.objects.serving import object_response, signed_response
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.security.api_keys import Principal
from waddlebot.kernel.security.http import require_permission
from waddlebot.overlays.media import MediaFile, MediaLibrary

if TYPE_CHECKING:
    from waddlebot.overlays.service import OverlayService

logger = get_logger(__name__)

MANAGE_SCOPE = "overlays:manage"
MANAGE_PERMISSION = "overlays.manage"
LINK_SECONDS = 3600
Manager = Annotated[Principal, Depends(require_permission(MANAGE_PERMISSION, scope=MANAGE_SCOPE))]


class MediaItem(BaseModel):
    name: str
    kind: str = Field(description="image or sound")
    content_type: str = Field(description="as sniffed from the file's bytes")
    size: int
    modified: datetime
    ref: str = Field(description="what overlay content uses: alert image/sound, card image")
    url: str = Field(description="a link to the file, valid for an hour (previews)")


class MediaList(BaseModel):
    community_id: str
    files: list[MediaItem]
    max_bytes: int
    max_files: int


def media_api(service: OverlayService) -> APIRouter:
    api = APIRouter(tags=["overlays"])
    prefix = "/api/browser-sources/v1/communities/{community_id}/media"

    async def item(community_id: str, found: MediaFile) -> MediaItem:
        key = MediaLibrary.key(community_id, found.name)
        url = await service.media.store.presigned_get(key, expires_in=LINK_SECONDS)
        return MediaItem(
            name=found.name,
            kind=found.kind,
            content_type=found.content_type,
            size=found.size,
            modified=found.modified,
            ref=found.ref,
            url=url,
        )

    async def known(community_id: str) -> None:
        if not await service.tokens.community_exists(community_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no community {community_id!r}")

    @api.post(prefix, status_code=status.HTTP_201_CREATED)
    async def upload(
        community_id: str,
        principal: Manager,
        file: Annotated[UploadFile, File(description="PNG/JPEG/GIF/WebP or MP3/Ogg/WAV")],
        name: Annotated[
            str | None, Form(max_length=200, description="default: the file's name")
        ] = None,
    ) -> MediaItem:
        """Upload an image or sound for the overlays (replaces a file of the same name)."""
        await known(community_id)
        wanted = name or PurePosixPath(file.filename or "").name
        data = await file.read(service.media.max_bytes + 1)
        stored = await service.media.add(community_id, wanted, data)
        log_event(
            logger,
            Category.AUDIT,
            "overlay_media_upload",
            "ok",
            community=community_id,
            user=principal.name,
            file=stored.name,
            size=stored.size,
            type=stored.content_type,
        )
        return await item(community_id, stored)

    @api.get(prefix)
    async def listing(community_id: str, _: Manager) -> MediaList:
        """The community's overlay media, by name."""
        await known(community_id)
        files = await service.media.files(community_id)
        return MediaList(
            community_id=community_id,
            files=[await item(community_id, found) for found in files],
            max_bytes=service.media.max_bytes,
            max_files=service.media.max_files,
        )

    @api.delete(prefix + "/{name}", status_code=status.HTTP_204_NO_CONTENT)
    async def delete(community_id: str, name: str, principal: Manager) -> Response:
        """Delete one file; overlays that still name it show nothing in its place."""
        await service.media.remove(community_id, name)
        log_event(
            logger,
            Category.AUDIT,
            "overlay_media_delete",
            "ok",
            community=community_id,
            user=principal.name,
            file=name,
        )
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    # Registered before the token route below: a key may itself contain "media".
    @api.get(SIGNED_PATH + "/{key:path}", include_in_schema=False)
    async def signed(key: str, expires: str = "", signature: str = "") -> Response:
        """A directory-store link from ``presigned_get`` (S3 links go to S3 itself)."""
        return await signed_response(service.runtime.objects, key, expires, signature)

    @api.get("/overlay/{token}/media/{name}", include_in_schema=False)
    async def page_media(token: str, name: str) -> Response:
        """A file of the page's community, for the page: its token is the credential."""
        grant = await service.tokens.resolve(token)
        if grant is None or not NAME.fullmatch(name):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
        return await object_response(
            service.media.store, MediaLibrary.key(grant.community_id, name)
        )

    return api
