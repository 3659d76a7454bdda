"""``/api/inventory/v1/communities/{id}/…``: the catalogue, holdings, grants and history.

Reading needs ``communities:read`` and, for people, a role in the community; changing needs
``communities:write`` and ``inventory.manage`` there (the permission chat checks). Items are
addressed by id or by name. Refusals: 404 (item, user, label), 409 (name taken, out of stock,
not enough units), 422 (bad input).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from waddlebot.modules.inventory.manager import (
    GRANT_DESCRIPTION,
    MAX_DESCRIPTION,
    MAX_NAME,
    MAX_QUANTITY,
    MAX_REASON,
    ChangeInfo,
    HoldingInfo,
    InventoryManager,
    ItemInfo,
    Transfer,
    configured_commands,
)
from waddlebot.modules.inventory.module import module
from waddlebot.sdk.triggers import trigger_of
from waddlebot.sdk.web import Principal, Reader, actor, database, needs
from waddlebot.sdk.web import host as web_host

api = module.api()
Manager = Annotated[Principal, needs("inventory.manage")]
STOCK = "how many units may exist in holdings at once; null: unlimited"


def _manager(request: Request) -> InventoryManager:
    return InventoryManager(database(request), web_host(request).labels())


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=MAX_NAME)
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    stock: int | None = Field(default=None, ge=0, le=1_000_000_000, description=STOCK)
    labels: list[str] = Field(default_factory=list, max_length=20, description="existing labels")


class ItemPatch(BaseModel):
    """What to change; omitted fields stay as they are (``"stock": null``: unlimited)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    stock: int | None = Field(default=None, ge=0, le=1_000_000_000, description=STOCK)
    labels: list[str] | None = Field(default=None, max_length=20, description="the full set")


class ItemOut(BaseModel):
    id: str
    name: str
    description: str
    stock: int | None
    stock_left: int | None
    held: int
    labels: list[str]
    created_by: str | None
    created_at: datetime


class HoldingOut(BaseModel):
    user_id: str
    item_id: str
    item: str
    quantity: int


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["give", "take"] = "give"
    user: str = Field(min_length=1, max_length=32, description="a WaddleBot user id")
    item: str = Field(min_length=1, max_length=MAX_NAME, description="the item's id or name")
    quantity: int = Field(default=1, ge=1, le=MAX_QUANTITY)
    reason: str = Field(default="", max_length=MAX_REASON)


class TransferOut(BaseModel):
    item: str
    quantity: int
    held: int
    stock_left: int | None


class ChangeOut(BaseModel):
    id: str
    action: str
    item_id: str | None
    item: str
    actor: str | None
    from_user: str | None
    to_user: str | None
    quantity: int
    reason: str
    created_at: datetime


class HistoryPage(BaseModel):
    entries: list[ChangeOut]
    next_offset: int | None = Field(description="pass as offset for the next page; null: done")


def _item(info: ItemInfo) -> ItemOut:
    return ItemOut(
        id=info.id,
        name=info.name,
        description=info.description,
        stock=info.stock,
        stock_left=info.stock_left,
        held=info.held,
        labels=info.labels,
        created_by=info.created_by,
        created_at=info.created_at,
    )


def _holding(info: HoldingInfo) -> HoldingOut:
    return HoldingOut(
        user_id=info.user_id, item_id=info.item_id, item=info.item, quantity=info.quantity
    )


def _change(info: ChangeInfo) -> ChangeOut:
    return ChangeOut(
        id=info.id,
        action=info.action,
        item_id=info.item_id,
        item=info.item,
        actor=info.actor,
        from_user=info.from_user,
        to_user=info.to_user,
        quantity=info.quantity,
        reason=info.reason,
        created_at=info.created_at,
    )


@api.get("/communities/{community_id}/items")
async def list_items(
    community_id: str,
    request: Request,
    _: Reader,
    label: Annotated[str | None, Query(max_length=100)] = None,
) -> list[ItemOut]:
    """The catalogue by name; ``label`` keeps the items carrying it."""
    return [_item(info) for info in await _manager(request).items(community_id, label)]


@api.post("/communities/{community_id}/items", status_code=status.HTTP_201_CREATED)
async def create_item(community_id: str, body: ItemIn, request: Request, who: Manager) -> ItemOut:
    info = await _manager(request).create(
        community_id,
        body.name,
        description=body.description,
        stock=body.stock,
        labels=body.labels,
        who=actor(who),
    )
    return _item(info)


@api.get("/communities/{community_id}/items/{item}")
async def get_item(community_id: str, item: str, request: Request, _: Reader) -> ItemOut:
    return _item(await _manager(request).item(community_id, item))


@api.patch("/communities/{community_id}/items/{item}")
async def change_item(
    community_id: str, item: str, body: ItemPatch, request: Request, who: Manager
) -> ItemOut:
    changes = body.model_dump(exclude_unset=True)
    for field in ("name", "description", "labels"):
        if field in changes and changes[field] is None:
            del changes[field]  # only the stock may be set to null (unlimited)
    info = await _manager(request).update(community_id, item, changes, who=actor(who))
    return _item(info)


@api.delete("/communities/{community_id}/items/{item}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_item(community_id: str, item: str, request: Request, who: Manager) -> Response:
    """Remove the item and everyone's units of it (recorded in the history)."""
    await _manager(request).remove(community_id, item, who=actor(who))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@api.get("/communities/{community_id}/holdings")
async def list_holdings(
    community_id: str,
    request: Request,
    _: Reader,
    user: Annotated[str | None, Query(max_length=32, description="a user id")] = None,
    item: Annotated[str | None, Query(max_length=MAX_NAME, description="id or name")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[HoldingOut]:
    found = await _manager(request).holdings(
        community_id, user_id=user, item=item, limit=limit, offset=offset
    )
    return [_holding(info) for info in found]


@api.get("/communities/{community_id}/users/{user_id}/holdings")
async def user_holdings(
    community_id: str, user_id: str, request: Request, _: Reader
) -> list[HoldingOut]:
    found = await _manager(request).holdings(community_id, user_id=user_id, limit=500)
    return [_holding(info) for info in found]


@api.post("/communities/{community_id}/grants")
async def grant(community_id: str, body: GrantIn, request: Request, who: Manager) -> TransferOut:
    """Give a person units out of stock, or take units from them back into stock."""
    manager = _manager(request)
    done: Transfer | None
    if body.action == "give":
        done = await manager.give(
            community_id, body.user, body.item, body.quantity, who=actor(who), reason=body.reason
        )
        assert done is not None
        held = done.to_held
    else:
        done = await manager.take(
            community_id,
            body.user,
            body.item,
            body.quantity,
            who=actor(who),
            reason=body.reason,
            name=f"User {body.user}",
        )
        held = done.from_held
    return TransferOut(
        item=done.item, quantity=done.quantity, held=held or 0, stock_left=done.stock_left
    )


@api.get("/communities/{community_id}/history")
async def history(
    community_id: str,
    request: Request,
    _: Reader,
    user: Annotated[str | None, Query(max_length=32, description="either side")] = None,
    item: Annotated[str | None, Query(max_length=MAX_NAME, description="id or name")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HistoryPage:
    """Every change, newest first: who, what, when, from, to, how many, why."""
    found = await _manager(request).history(
        community_id, user_id=user, item=item, limit=limit + 1, offset=offset
    )
    return HistoryPage(
        entries=[_change(info) for info in found[:limit]],
        next_offset=offset + limit if len(found) > limit else None,
    )


class CommandSyncOut(BaseModel):
    answering: list[str] = Field(description="the config's triggers the module answers now")
    added: list[str]
    removed: list[str]
    refused: dict[str, str] = Field(description="trigger → the module that already answers it")


@api.post("/communities/{community_id}/commands/sync")
async def sync_granting_commands(
    community_id: str, request: Request, who: Manager
) -> CommandSyncOut:
    """Make the config's item-granting ``commands`` answer (as ``!inv sync`` does): run it
    after changing the module's configuration."""
    host = web_host(request)
    config = await host.module_config(community_id, module.name)
    wanted = list(configured_commands(config))
    for name in wanted:
        trigger_of(name)
    done = await host.claim_triggers(
        community_id, module.name, wanted, list(module.commands), GRANT_DESCRIPTION
    )
    return CommandSyncOut(
        answering=sorted(set(wanted) - set(done.refused)),
        added=done.added,
        removed=done.removed,
        refused=done.refused,
    )
