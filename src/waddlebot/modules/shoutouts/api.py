"""The shoutouts REST API, mounted at ``/api/shoutouts/v1``: a community's settings for the
portal and scripts, with the checks and the permission chat uses.

- ``GET  /communities/{id}/settings``: any member (``communities:read``).
- ``PUT  /communities/{id}/settings``: replace all three (``communities:write`` +
  ``shoutouts.manage``, moderators and above by default: who may ``!shoutouts template``).
- ``PATCH /communities/{id}/settings``: change the fields given; ``null`` restores a default.

A bad template or a negative raid minimum is a 422 with the same sentence chat replies.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from sqlalchemy import select

from waddlebot.kernel.errors import NotFound
from waddlebot.kernel.storage.models import Community
from waddlebot.modules.shoutouts.settings import (
    ShoutoutSettings,
    ShoutoutSettingsManager,
)
from waddlebot.modules.shoutouts.shoutouts import MANAGE, module
from waddlebot.sdk.web import Principal, Reader, database, needs, storage

api = module.api()

Manager = Annotated[Principal, needs(MANAGE)]


class SettingsOut(BaseModel):
    """The effective settings (stored changes over the defaults)."""

    template: str = Field(description="The chat line; {name} {login} {game} {title} {clip}")
    auto_on_raid: bool = Field(description="Shout raiders out automatically")
    raid_min_viewers: int = Field(description="Raids smaller than this get no shoutout")
    card_art: str | None = Field(
        default=None, description="media:<name> of an uploaded image shown on the card"
    )


class SettingsIn(BaseModel):
    """All the settings (PUT); card art may be left out (none)."""

    model_config = ConfigDict(extra="forbid")

    template: StrictStr
    auto_on_raid: StrictBool
    raid_min_viewers: StrictInt
    card_art: StrictStr | None = None


class SettingsPatch(BaseModel):
    """The settings to change (PATCH); ``null`` puts one back to its default."""

    model_config = ConfigDict(extra="forbid")

    template: StrictStr | None = None
    auto_on_raid: StrictBool | None = None
    raid_min_viewers: StrictInt | None = None
    card_art: StrictStr | None = None


async def settings_manager(request: Request, community_id: str) -> ShoutoutSettingsManager:
    """The community's settings; 404 for a community that does not exist (its storage
    rows would have nothing to belong to)."""
    async with database(request).read_session() as session:
        found = await session.scalar(select(Community.id).where(Community.id == community_id))
    if found is None:
        raise NotFound(f"no community {community_id!r}")
    return ShoutoutSettingsManager(
        storage(request, module.name, community_id), module.config_defaults()
    )


def _out(settings: ShoutoutSettings) -> SettingsOut:
    return SettingsOut(**settings.as_dict())


@api.get("/communities/{community_id}/settings")
async def read_settings(community_id: str, request: Request, _: Reader) -> SettingsOut:
    return _out(await (await settings_manager(request, community_id)).current())


@api.put("/communities/{community_id}/settings")
async def replace_settings(
    community_id: str, body: SettingsIn, request: Request, _: Manager
) -> SettingsOut:
    manager = await settings_manager(request, community_id)
    return _out(await manager.change(body.model_dump(), replace=True))


@api.patch("/communities/{community_id}/settings")
async def change_settings(
    community_id: str, body: SettingsPatch, request: Request, _: Manager
) -> SettingsOut:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    return _out(await (await settings_manager(request, community_id)).change(changes))
