"""The identity service: ``/api/identity/v1`` to list and detach a user's platform accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel

from waddlebot.identity.manager import IdentityManager
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.security.api_keys import Principal
from waddlebot.kernel.security.http import require_scope
from waddlebot.kernel.service import Service
from waddlebot.kernel.web import get_runtime
from waddlebot.sdk.identity import IdentityError

MANAGE_SCOPE = "identity:manage"
Manage = Annotated[Principal, Depends(require_scope(MANAGE_SCOPE))]


class AccountOut(BaseModel):
    platform: str
    platform_user_id: str
    username: str


class IdentitiesOut(BaseModel):
    user_id: str
    identities: list[AccountOut]


def manager_for(runtime: Runtime) -> IdentityManager:
    return IdentityManager(
        runtime.db,
        runtime.backend,
        secret=runtime.settings.resolved_secret_key,
        outbound_max=runtime.settings.outbound_queue_max,
    )


def identity_api() -> APIRouter:
    api = APIRouter(prefix="/api/identity/v1", tags=["identity"])

    @api.get("/users/{user_id}/identities", response_model=IdentitiesOut)
    async def list_identities(user_id: str, request: Request, _: Manage) -> IdentitiesOut:
        accounts = await manager_for(get_runtime(request)).accounts(user_id)
        if not accounts:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such user or no accounts")
        return IdentitiesOut(
            user_id=user_id,
            identities=[
                AccountOut(
                    platform=a.platform, platform_user_id=a.platform_user_id, username=a.username
                )
                for a in accounts
            ],
        )

    @api.delete("/users/{user_id}/identities/{platform}", response_model=IdentitiesOut)
    async def unlink_identity(
        user_id: str, platform: str, request: Request, _: Manage
    ) -> IdentitiesOut:
        manager = manager_for(get_runtime(request))
        if not await manager.accounts(user_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such user or no accounts")
        try:
            detached = await manager.unlink(user_id, platform)
        except IdentityError as refusal:
            raise HTTPException(status.HTTP_409_CONFLICT, refusal.message) from None
        return IdentitiesOut(
            user_id=user_id,
            identities=[
                AccountOut(
                    platform=a.platform, platform_user_id=a.platform_user_id, username=a.username
                )
                for a in detached
            ],
        )

    return api


class IdentityService(Service):
    name = "identity"

    def api(self) -> APIRouter:
        return identity_api()
