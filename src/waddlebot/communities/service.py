"""The communities service: ``/api/communities/v1`` — communities, members and their roles,
what each role may do, and the community's commands.

Reading needs ``communities:read`` and, for people, some role in the community; changing
members needs ``communities:write`` + ``members.manage`` there (and the rank rules of
:mod:`waddlebot.communities.manager`), role grants ``roles.manage``, commands
``commands.manage``. Installation-wide callers (superusers, admin keys, our services) and
operator keys pass on the scope. Refusals: 403 (permission, rank), 404 (unknown community,
user, member or command), 409 (the last owner; concurrent changes), 422 (bad input), each
with a short ``detail`` message.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from waddlebot.communities.audit_api import add_audit_routes
from waddlebot.communities.manager import (
    MAX_COOLDOWN,
    Acting,
    CommandChange,
    CommandView,
    CommunityManager,
    CommunityView,
    MemberView,
    RoleGrantView,
)
from waddlebot.custom_commands.service import add_custom_command_routes
from waddlebot.kernel.contracts import Role
from waddlebot.kernel.observability.logging import get_logger
from waddlebot.kernel.security.api_keys import Principal
from waddlebot.kernel.security.http import require_member, require_permission, require_scope
from waddlebot.kernel.security.rbac import (
    COMMUNITY_ROLES,
    PERMISSIONS,
    role_permissions,
)
from waddlebot.kernel.service import Service
from waddlebot.kernel.web import get_runtime
from waddlebot.stats.api import stats_api

logger = get_logger(__name__)

READ_SCOPE = "communities:read"
WRITE_SCOPE = "communities:write"


Reader = Annotated[Principal, Depends(require_scope(READ_SCOPE))]
MemberReader = Annotated[Principal, Depends(require_member(READ_SCOPE))]
MemberManager = Annotated[
    Principal, Depends(require_permission("members.manage", scope=WRITE_SCOPE))
]
RoleManager = Annotated[Principal, Depends(require_permission("roles.manage", scope=WRITE_SCOPE))]
CommandManager = Annotated[
    Principal, Depends(require_permission("commands.manage", scope=WRITE_SCOPE))
]


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(max_length=20, description="owner, admin, moderator or member")


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    permissions: list[str] = Field(max_length=len(PERMISSIONS) * 2)


class CommandPatch(BaseModel):
    """What to change about a command in this community; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    user_cooldown: float | None = Field(default=None, ge=0, le=MAX_COOLDOWN)
    global_cooldown: float | None = Field(default=None, ge=0, le=MAX_COOLDOWN)
    min_role: str | None = Field(
        default=None, description="everyone, subscriber, vip, moderator or broadcaster"
    )

    @field_validator("min_role")
    @classmethod
    def _known_role(cls, value: str | None) -> str | None:
        return None if value is None else Role.parse(value).name


class PermissionOut(BaseModel):
    name: str
    description: str
    default_roles: list[str]


def _manager(request: Request) -> CommunityManager:
    runtime = get_runtime(request)
    return CommunityManager(
        runtime.db,
        runtime.backend.kv,
        runtime.backend.pubsub,
        default_timezone=runtime.settings.default_timezone,
    )


class CommunityPatch(BaseModel):
    """What to change about a community; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")
    timezone: str | None = Field(
        default=None, max_length=64, description="IANA, e.g. Europe/Berlin"
    )


async def _acting(request: Request, principal: Principal, community_id: str) -> Acting:
    """The caller's standing for the rank rules: everything for installation-wide callers."""
    if not principal.community_bound or principal.user_id is None:
        return Acting(who=principal.user_id or principal.name, installation_wide=True)
    return await _manager(request).acting(community_id, principal.user_id)


def communities_api() -> APIRouter:
    api = APIRouter(prefix="/api/communities/v1", tags=["communities"])

    @api.get("/permissions", response_model=list[PermissionOut])
    async def permissions(_: Reader) -> list[PermissionOut]:
        """The named permissions a role or a label can grant, and who holds each by default."""
        return [
            PermissionOut(
                name=name,
                description=description,
                default_roles=[r for r in COMMUNITY_ROLES if name in role_permissions(r, {})],
            )
            for name, description in sorted(PERMISSIONS.items())
        ]

    @api.get("/communities", response_model=list[CommunityView])
    async def list_communities(request: Request, principal: Reader) -> list[CommunityView]:
        """People see the communities where they hold a role; installation-wide callers all."""
        manager = _manager(request)
        if principal.community_bound:
            return await manager.communities(principal.user_id)
        return await manager.communities()

    @api.get("/communities/{community_id}", response_model=CommunityView)
    async def get_community(
        community_id: str, request: Request, principal: MemberReader
    ) -> CommunityView:
        return await _manager(request).community(community_id, principal.user_id)

    @api.patch("/communities/{community_id}", response_model=CommunityView)
    async def change_community(
        community_id: str, body: CommunityPatch, request: Request, principal: CommandManager
    ) -> CommunityView:
        """Settings: ``timezone`` (an IANA name; null = ``WADDLEBOT_DEFAULT_TIMEZONE``)."""
        manager = _manager(request)
        if "timezone" in body.model_fields_set:
            acting = await _acting(request, principal, community_id)
            await manager.change_timezone(community_id, body.timezone, acting)
        return await manager.community(community_id, principal.user_id)

    @api.get("/communities/{community_id}/members", response_model=list[MemberView])
    async def list_members(
        community_id: str, request: Request, _: MemberReader
    ) -> list[MemberView]:
        return await _manager(request).members(community_id)

    @api.put("/communities/{community_id}/members/{user_id}", response_model=MemberView)
    async def set_member_role(
        community_id: str, user_id: str, body: RoleIn, request: Request, principal: MemberManager
    ) -> MemberView:
        """Grant a role (creating the membership); only roles below your own, unless owner."""
        acting = await _acting(request, principal, community_id)
        return await _manager(request).set_role(community_id, user_id, body.role, acting)

    @api.delete(
        "/communities/{community_id}/members/{user_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
    )
    async def remove_member(
        community_id: str, user_id: str, request: Request, principal: MemberManager
    ) -> Response:
        acting = await _acting(request, principal, community_id)
        await _manager(request).remove_member(community_id, user_id, acting)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @api.get("/communities/{community_id}/roles", response_model=list[RoleGrantView])
    async def list_roles(
        community_id: str, request: Request, _: MemberReader
    ) -> list[RoleGrantView]:
        return await _manager(request).role_grants(community_id)

    @api.put("/communities/{community_id}/roles/{role}", response_model=RoleGrantView)
    async def set_role_grant(
        community_id: str, role: str, body: GrantIn, request: Request, principal: RoleManager
    ) -> RoleGrantView:
        """Replace the role's own grant here (it still holds what the roles beneath it hold)."""
        acting = await _acting(request, principal, community_id)
        return await _manager(request).set_role_grant(community_id, role, body.permissions, acting)

    @api.delete("/communities/{community_id}/roles/{role}", response_model=RoleGrantView)
    async def reset_role_grant(
        community_id: str, role: str, request: Request, principal: RoleManager
    ) -> RoleGrantView:
        """Give the role its default grant back."""
        acting = await _acting(request, principal, community_id)
        return await _manager(request).reset_role_grant(community_id, role, acting)

    @api.get("/communities/{community_id}/commands", response_model=list[CommandView])
    async def list_commands(
        community_id: str, request: Request, _: MemberReader
    ) -> list[CommandView]:
        return await _manager(request).commands(community_id)

    @api.patch("/communities/{community_id}/commands/{trigger}", response_model=CommandView)
    async def change_command(
        community_id: str,
        trigger: str,
        body: CommandPatch,
        request: Request,
        principal: CommandManager,
        prefix: Annotated[str, Query(pattern=r"^[!#]$", description="! or #")] = "!",
    ) -> CommandView:
        """Enable, disable or tune a command for this community only; live on the next message."""
        change = CommandChange(
            enabled=body.enabled,
            user_cooldown=body.user_cooldown,
            global_cooldown=body.global_cooldown,
            min_role=Role.parse(body.min_role) if body.min_role is not None else None,
        )
        acting = await _acting(request, principal, community_id)
        return await _manager(request).change_command(community_id, prefix, trigger, change, acting)

    add_custom_command_routes(api)
    add_audit_routes(api)
    return api


class CommunitiesService(Service):
    name = "communities"

    def api(self) -> APIRouter:
        api = APIRouter()
        api.include_router(communities_api())
        api.include_router(stats_api())  # usage statistics: a community read like the others
        return api
