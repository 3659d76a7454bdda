"""REST for AI chat, mounted at ``/api/ai/v1`` (every route needs ``ai.manage`` in the
community; reads with ``communities:read``, changes with ``communities:write``):

* ``GET|PUT|PATCH /communities/{id}/settings``: the effective settings; PUT replaces every
  override (absent fields go back to the defaults), PATCH changes the fields sent (null:
  back to the default). ``api_key`` is write-only: answers only say ``has_key``.
* ``GET|POST /communities/{id}/mcp-servers``, ``DELETE /communities/{id}/mcp-servers/{name}``.
* ``GET /communities/{id}/usage``: today's (UTC) tokens per user.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Path, Request, Response
from pydantic import BaseModel, Field

from waddlebot.modules.ai.commands import settings_changed
from waddlebot.modules.ai.manager import (
    AiBook,
    AiConfig,
    Installation,
    McpServerInfo,
    SettingsPatch,
    today,
)
from waddlebot.modules.ai.module import module
from waddlebot.sdk.web import (
    Principal,
    Reader,
    actor,
    authorize,
    database,
    host,
    needs,
    secrets,
)
from waddlebot.sdk.web import settings as runtime_settings

MANAGE = "ai.manage"
Manager = Annotated[Principal, needs(MANAGE)]

api = module.api()


class SettingsOut(BaseModel):
    """The effective settings (the community's overrides over the installation's)."""

    configured: bool = Field(description="a provider and model are known: !ai answers")
    provider: str | None
    base_url: str | None = Field(description="null: the provider's default (or the installation's)")
    model: str | None
    has_key: bool = Field(description="an API key is set (never shown)")
    own_provider: bool = Field(description="the community chose its own provider or endpoint")
    system_prompt: str
    max_chars: int
    temperature: float
    cooldown: float = Field(description="seconds between one user's questions")
    community_budget: int = Field(description="tokens per UTC day for the community")
    user_budget: int = Field(description="tokens per UTC day per user")
    memory_turns: int = Field(description="exchanges remembered per user and channel")
    memory_ttl: int = Field(description="seconds a conversation is remembered")
    block_list: list[str]
    mention: bool = Field(description="answer @bot_name mentions")
    bot_name: str
    overlay: str = Field(description="none, general or ticker")


class McpServerIn(BaseModel):
    name: str = Field(min_length=1, max_length=30)
    command: str | None = Field(default=None, max_length=500, description="stdio: program")
    args: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list, max_length=50)
    url: str | None = Field(default=None, max_length=500, description="streamable HTTP URL")
    allowed_tools: list[str] = Field(
        min_length=1, max_length=100, description="only these tools ever run"
    )


class McpServerOut(BaseModel):
    id: str
    name: str
    transport: str
    command: str | None
    args: list[str]
    url: str | None
    allowed_tools: list[str]
    created_at: datetime


class UsageOut(BaseModel):
    user_id: str
    tokens: int
    answers: int


class UsageDay(BaseModel):
    day: date
    total: int
    community_budget: int
    user_budget: int
    users: list[UsageOut]


def rest_book(request: Request) -> AiBook:
    """The manager the routes (and the portal's AI page) use."""
    return AiBook(
        database(request),
        Installation.from_settings(runtime_settings(request)),
        secrets(request),
    )


def _out(config: AiConfig) -> SettingsOut:
    provider = config.provider
    return SettingsOut(
        configured=provider is not None,
        provider=provider.provider if provider else None,
        base_url=provider.base_url if provider else None,
        model=provider.model if provider else None,
        has_key=config.has_key,
        own_provider=config.own_provider,
        system_prompt=config.system_prompt,
        max_chars=config.max_chars,
        temperature=config.temperature,
        cooldown=config.cooldown,
        community_budget=config.community_budget,
        user_budget=config.user_budget,
        memory_turns=config.memory_turns,
        memory_ttl=config.memory_ttl,
        block_list=config.block_list,
        mention=config.mention,
        bot_name=config.bot_name,
        overlay=config.overlay,
    )


def _server(info: McpServerInfo) -> McpServerOut:
    return McpServerOut(
        id=info.id,
        name=info.name,
        transport=info.transport,
        command=info.command,
        args=info.args,
        url=info.url,
        allowed_tools=info.allowed_tools,
        created_at=info.created_at,
    )


async def _may_read(request: Request, principal: Principal, community_id: str) -> None:
    await authorize(request, principal, community_id, MANAGE)


@api.get("/communities/{community_id}/settings", response_model=SettingsOut)
async def get_settings(community_id: str, request: Request, principal: Reader) -> SettingsOut:
    await _may_read(request, principal, community_id)
    return _out(await rest_book(request).config(community_id, with_key=False))


async def _change(
    community_id: str,
    request: Request,
    principal: Principal,
    body: SettingsPatch,
    *,
    replace: bool,
) -> SettingsOut:
    config = await rest_book(request).update(community_id, body, actor(principal), replace=replace)
    mention = replace or "mention" in body.model_fields_set
    await settings_changed(host(request), community_id, mention=mention)
    return _out(config)


@api.put("/communities/{community_id}/settings", response_model=SettingsOut)
async def put_settings(
    community_id: str, request: Request, principal: Manager, body: SettingsPatch
) -> SettingsOut:
    """Replace every override: fields left out go back to the installation's defaults."""
    return await _change(community_id, request, principal, body, replace=True)


@api.patch("/communities/{community_id}/settings", response_model=SettingsOut)
async def patch_settings(
    community_id: str, request: Request, principal: Manager, body: SettingsPatch
) -> SettingsOut:
    """Change the fields sent; a field sent as null goes back to the default."""
    return await _change(community_id, request, principal, body, replace=False)


@api.get("/communities/{community_id}/mcp-servers", response_model=list[McpServerOut])
async def list_servers(
    community_id: str, request: Request, principal: Reader
) -> list[McpServerOut]:
    await _may_read(request, principal, community_id)
    return [_server(info) for info in await rest_book(request).servers(community_id)]


@api.post("/communities/{community_id}/mcp-servers", response_model=McpServerOut, status_code=201)
async def add_server(
    community_id: str, request: Request, principal: Manager, body: McpServerIn
) -> McpServerOut:
    info = await rest_book(request).add_server(
        community_id,
        name=body.name,
        command=body.command,
        args=body.args,
        url=body.url,
        allowed_tools=body.allowed_tools,
        who=actor(principal),
    )
    return _server(info)


@api.delete("/communities/{community_id}/mcp-servers/{name}", status_code=204)
async def remove_server(
    community_id: str,
    name: Annotated[str, Path(max_length=30)],
    request: Request,
    principal: Manager,
) -> Response:
    await rest_book(request).remove_server(community_id, name)
    return Response(status_code=204)


@api.get("/communities/{community_id}/usage", response_model=UsageDay)
async def usage(community_id: str, request: Request, principal: Reader) -> UsageDay:
    await _may_read(request, principal, community_id)
    book = rest_book(request)
    config = await book.config(community_id, with_key=False)
    day = today()
    rows = await book.usage(community_id, day)
    return UsageDay(
        day=day,
        total=sum(row.tokens for row in rows),
        community_budget=config.community_budget,
        user_budget=config.user_budget,
        users=[UsageOut(user_id=r.user_id, tokens=r.tokens, answers=r.answers) for r in rows],
    )
