"""``/api/communities/v1/communities/{id}/custom-commands``: list, read, create, change and
delete a community's custom commands, with the checks chat uses.

Reading needs ``communities:read`` and, for people, a role in the community; changing needs
``communities:write`` + ``commands.manage`` there. Mounted by the communities service.
Refusals: 404 (community or command), 409 (the name is taken), 422 (bad name, template with
its position, role, cooldown).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from waddlebot.custom_commands.manager import (
    MAX_COOLDOWN,
    Change,
    CustomCommandManager,
    parse_role,
)
from waddlebot.custom_commands.template import MAX_TEMPLATE
from waddlebot.kernel.security.api_keys import Principal
from waddlebot.kernel.security.http import require_member, require_permission
from waddlebot.kernel.web import get_runtime
from waddlebot.sdk.custom_commands import CustomCommandInfo

READ_SCOPE = "communities:read"
WRITE_SCOPE = "communities:write"

Reader = Annotated[Principal, Depends(require_member(READ_SCOPE))]
Manager = Annotated[Principal, Depends(require_permission("commands.manage", scope=WRITE_SCOPE))]

ROLE_HELP = "everyone, subscriber, vip, moderator or broadcaster"


class CustomCommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=60, description="the trigger, e.g. discord or !discord")
    response: str = Field(max_length=MAX_TEMPLATE, description="a response template")
    cooldown: float = Field(default=0.0, ge=0, le=MAX_COOLDOWN, description="seconds")
    role: str = Field(default="everyone", max_length=20, description=ROLE_HELP)
    enabled: bool = True


class CustomCommandPatch(BaseModel):
    """What to change; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")
    response: str | None = Field(default=None, max_length=MAX_TEMPLATE)
    cooldown: float | None = Field(default=None, ge=0, le=MAX_COOLDOWN)
    role: str | None = Field(default=None, max_length=20, description=ROLE_HELP)
    enabled: bool | None = None


class CustomCommandOut(BaseModel):
    name: str
    response: str
    cooldown: float
    role: str
    enabled: bool
    count: int
    created_by: str | None
    updated_by: str | None
    created_at: datetime
    updated_at: datetime


def _out(info: CustomCommandInfo) -> CustomCommandOut:
    return CustomCommandOut(
        name=info.name,
        response=info.response,
        cooldown=info.cooldown,
        role=info.role,
        enabled=info.enabled,
        count=info.count,
        created_by=info.created_by,
        updated_by=info.updated_by,
        created_at=info.created_at,
        updated_at=info.updated_at,
    )


def _manager(request: Request) -> CustomCommandManager:
    runtime = get_runtime(request)
    return CustomCommandManager(runtime.db, runtime.backend.kv, runtime.backend.pubsub)


def _who(principal: Principal) -> str:
    return principal.user_id or principal.name


def add_custom_command_routes(api: APIRouter) -> None:
    """Add the routes to the communities API router (``/api/communities/v1``)."""
    base = "/communities/{community_id}/custom-commands"

    @api.get(base, response_model=list[CustomCommandOut])
    async def list_custom_commands(
        community_id: str, request: Request, _: Reader
    ) -> list[CustomCommandOut]:
        return [_out(c) for c in await _manager(request).listing(community_id)]

    @api.get(base + "/{name}", response_model=CustomCommandOut)
    async def get_custom_command(
        community_id: str, name: str, request: Request, _: Reader
    ) -> CustomCommandOut:
        return _out(await _manager(request).get(community_id, name))

    @api.post(base, response_model=CustomCommandOut, status_code=status.HTTP_201_CREATED)
    async def create_custom_command(
        community_id: str, body: CustomCommandIn, request: Request, principal: Manager
    ) -> CustomCommandOut:
        """A new custom command, live on the next message; 409 when the name is taken."""
        change = Change(
            response=body.response,
            cooldown=body.cooldown,
            role=parse_role(body.role),
            enabled=body.enabled,
        )
        created = await _manager(request).create(community_id, body.name, change, _who(principal))
        return _out(created)

    @api.patch(base + "/{name}", response_model=CustomCommandOut)
    async def update_custom_command(
        community_id: str,
        name: str,
        body: CustomCommandPatch,
        request: Request,
        principal: Manager,
    ) -> CustomCommandOut:
        change = Change(
            response=body.response,
            cooldown=body.cooldown,
            role=parse_role(body.role) if body.role is not None else None,
            enabled=body.enabled,
        )
        updated = await _manager(request).update(community_id, name, change, _who(principal))
        return _out(updated)

    @api.delete(base + "/{name}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
    async def delete_custom_command(
        community_id: str, name: str, request: Request, principal: Manager
    ) -> Response:
        await _manager(request).delete(community_id, name, _who(principal))
        return Response(status_code=status.HTTP_204_NO_CONTENT)
