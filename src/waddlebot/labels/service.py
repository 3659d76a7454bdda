"""The labels service: ``/api/labels/v1`` — a community's labels, who and what wears them.

Reading needs ``labels:read`` and, for people, some role in the community or
``labels.manage``; writing needs ``labels:write`` and, for people, ``labels.manage`` there.
Installation-wide callers (superusers, admin keys, our services) and operator keys pass on the
scope. Refusals: 403 (permission, system labels), 404 (unknown community, label, user or
channel; removing a label a target does not wear), 409 (duplicates, limits), 422 (bad input),
each with a short ``detail`` message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from waddlebot.kernel.observability.logging import get_logger
from waddlebot.kernel.security.api_keys import Principal
from waddlebot.kernel.security.http import require_member, require_permission
from waddlebot.kernel.service import Service
from waddlebot.kernel.web import get_runtime
from waddlebot.labels.manager import (
    MAX_BATCH,
    AssignmentPage,
    AssignmentView,
    LabelChange,
    LabelManager,
    LabelView,
    Operation,
    SearchPage,
    Target,
    expiry,
    validate_target,
)

logger = get_logger(__name__)

READ_SCOPE = "labels:read"
WRITE_SCOPE = "labels:write"
TargetTypeName = Literal["user", "entity", "module", "item"]


Reader = Annotated[Principal, Depends(require_member(READ_SCOPE, or_permission="labels.manage"))]
Writer = Annotated[Principal, Depends(require_permission("labels.manage", scope=WRITE_SCOPE))]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=50)
    colour: str | None = Field(default=None, description="#RRGGBB")
    description: str = Field(default="", max_length=300)
    permissions: list[str] = Field(default_factory=list, max_length=50)
    system: bool = Field(default=False, description="installation-wide callers only")


class LabelPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=50)
    colour: str | None = None
    description: str | None = Field(default=None, max_length=300)
    permissions: list[str] | None = Field(default=None, max_length=50)


class TargetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_type: TargetTypeName
    target_id: str = Field(min_length=1, max_length=200)


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targets: list[TargetIn] = Field(min_length=1, max_length=MAX_BATCH)
    expires_at: datetime | None = None
    expires_in: float | None = Field(default=None, description="seconds from now")
    metadata: dict[str, Any] = Field(default_factory=dict)


class RemoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targets: list[TargetIn] = Field(min_length=1, max_length=MAX_BATCH)


class OperationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op: Literal["apply", "remove"]
    label: str = Field(min_length=1, max_length=50)
    target_type: TargetTypeName
    target_id: str = Field(min_length=1, max_length=200)
    expires_at: datetime | None = None
    expires_in: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operations: list[OperationIn] = Field(min_length=1, max_length=MAX_BATCH)


def _manager(request: Request) -> LabelManager:
    runtime = get_runtime(request)
    return LabelManager(runtime.db, runtime.backend.kv, runtime.settings)


def _who(principal: Principal) -> str:
    return principal.user_id or principal.name


def _targets(targets: list[TargetIn]) -> list[Target]:
    return [validate_target(t.target_type, t.target_id) for t in targets]


def labels_api() -> APIRouter:
    api = APIRouter(prefix="/api/labels/v1/communities/{community_id}", tags=["labels"])

    @api.get("/labels", response_model=list[LabelView])
    async def list_labels(community_id: str, request: Request, _: Reader) -> list[LabelView]:
        return await _manager(request).labels(community_id)

    @api.post("/labels", response_model=LabelView, status_code=status.HTTP_201_CREATED)
    async def create_label(
        community_id: str, body: LabelIn, request: Request, principal: Writer
    ) -> LabelView:
        if body.system and principal.community_bound:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "only installation-wide callers create system labels"
            )
        return await _manager(request).create_label(
            community_id,
            body.name,
            colour=body.colour,
            description=body.description,
            permissions=body.permissions,
            system=body.system,
            who=_who(principal),
        )

    @api.get("/labels/{label}", response_model=LabelView)
    async def get_label(community_id: str, label: str, request: Request, _: Reader) -> LabelView:
        return await _manager(request).label(community_id, label)

    @api.patch("/labels/{label}", response_model=LabelView)
    async def update_label(
        community_id: str, label: str, body: LabelPatch, request: Request, principal: Writer
    ) -> LabelView:
        change = LabelChange(
            name=body.name,
            colour=body.colour,
            description=body.description,
            permissions=body.permissions,
        )
        return await _manager(request).update_label(
            community_id, label, change, who=_who(principal)
        )

    @api.delete("/labels/{label}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
    async def delete_label(
        community_id: str, label: str, request: Request, principal: Writer
    ) -> Response:
        """Delete a label and every assignment of it (not system labels)."""
        await _manager(request).delete_label(community_id, label, who=_who(principal))
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @api.get("/labels/{label}/assignments", response_model=AssignmentPage)
    async def list_assignments(
        community_id: str,
        label: str,
        request: Request,
        _: Reader,
        target_type: TargetTypeName | None = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> AssignmentPage:
        """Who or what wears the label now (expired assignments never show), oldest first."""
        return await _manager(request).assignments(
            community_id, label, target_type=target_type, limit=limit, offset=offset
        )

    @api.post("/labels/{label}/assignments", response_model=list[AssignmentView])
    async def apply_label(
        community_id: str, label: str, body: ApplyIn, request: Request, principal: Writer
    ) -> list[AssignmentView]:
        """Put the label on every target (all or none); re-applying refreshes expiry/metadata."""
        until = expiry(body.expires_at, body.expires_in)
        return await _manager(request).apply(
            community_id,
            label,
            _targets(body.targets),
            expires_at=until,
            metadata=body.metadata,
            who=_who(principal),
        )

    @api.delete("/labels/{label}/assignments", response_model=list[AssignmentView])
    async def remove_label(
        community_id: str, label: str, body: RemoveIn, request: Request, principal: Writer
    ) -> list[AssignmentView]:
        """Take the label off every target (all or none); returns what was removed."""
        return await _manager(request).remove(
            community_id, label, _targets(body.targets), who=_who(principal)
        )

    @api.post("/assignments:bulk", response_model=list[AssignmentView])
    async def bulk(
        community_id: str, body: BulkIn, request: Request, principal: Writer
    ) -> list[AssignmentView]:
        """Many applies and removes across labels, in one transaction: all of them or none."""
        operations = [
            Operation(
                op.op,
                op.label,
                validate_target(op.target_type, op.target_id),
                expires_at=expiry(op.expires_at, op.expires_in) if op.op == "apply" else None,
                metadata=op.metadata,
            )
            for op in body.operations
        ]
        return await _manager(request).bulk(community_id, operations, who=_who(principal))

    @api.get("/targets/{target_type}/{target_id}/labels", response_model=list[AssignmentView])
    async def target_labels(
        community_id: str,
        target_type: TargetTypeName,
        target_id: str,
        request: Request,
        _: Reader,
    ) -> list[AssignmentView]:
        """The labels a user, channel, module or item wears now."""
        return await _manager(request).target_labels(community_id, target_type, target_id)

    @api.get("/search", response_model=SearchPage)
    async def search(
        community_id: str,
        request: Request,
        _: Reader,
        label: Annotated[list[str], Query(min_length=1, max_length=20)],
        match: Literal["any", "all"] = "any",
        target_type: TargetTypeName | None = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> SearchPage:
        """Targets wearing any (or all) of the ``label`` parameters, with the ones they wear."""
        return await _manager(request).search(
            community_id,
            label,
            match=match,
            target_type=target_type,
            limit=limit,
            offset=offset,
        )

    return api


class LabelsService(Service):
    name = "labels"

    def api(self) -> APIRouter:
        return labels_api()
