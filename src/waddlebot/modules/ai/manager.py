"""All of the AI module's data: per-community settings over the installation defaults, MCP
servers, and daily token usage. Chat (``commands.py``) and REST (``api.py``) both use
:class:`AiBook`, so a rule holds the same way in both; refusals are ``kernel.errors``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from waddlebot.kernel.errors import Conflict, Invalid, NotFound
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Community
from waddlebot.modules.ai.models import AiMcpServer, AiSettings, AiUsage
from waddlebot.modules.ai.providers import ProviderConfig
from waddlebot.modules.ai.safety import check_block_list
from waddlebot.modules.ai.tools import McpServerSpec
from waddlebot.sdk.database import ModuleDatabase, new_id, on_user_merge
from waddlebot.sdk.secrets import SecretOperations

DEFAULT_PROMPT = (
    "You are WaddleBot, a friendly penguin bot in a live-stream chat. Answer in one or two "
    "short sentences, in plain text, in the language of the question."
)
MAX_SERVERS = 5
SERVER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,29}$")
TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
Overlay = Literal["none", "general", "ticker"]


@dataclass(frozen=True, slots=True)
class Installation:
    """The installation's defaults (``WADDLEBOT_AI_*``)."""

    provider: Literal["openai", "ollama"] | None
    base_url: str | None
    api_key: str | None
    model: str | None
    timeout: float
    mcp_commands: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Installation:
        # the answer must come before the router gives up on the module (module_timeout)
        timeout = max(1.0, min(settings.ai_timeout, settings.module_timeout - 0.5))
        return cls(
            provider=settings.ai_provider,
            base_url=settings.ai_base_url,
            api_key=settings.ai_api_key,
            model=settings.ai_model,
            timeout=timeout,
            mcp_commands=tuple(settings.ai_mcp_commands),
        )


@dataclass(frozen=True, slots=True)
class AiConfig:
    """A community's effective settings: its overrides over the installation defaults."""

    provider: ProviderConfig | None  # None: AI is not set up here
    has_key: bool
    own_provider: bool  # the community chose its own provider/endpoint
    system_prompt: str = DEFAULT_PROMPT
    max_chars: int = 400
    temperature: float = 0.7
    cooldown: float = 30.0
    community_budget: int = 100_000
    user_budget: int = 5_000
    memory_turns: int = 3
    memory_ttl: int = 900
    block_list: list[str] = field(default_factory=list)
    mention: bool = False
    bot_name: str = "waddlebot"
    overlay: Overlay = "none"


class SettingsPatch(BaseModel):
    """What an admin may change; a field sent as null goes back to the default."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["openai", "ollama"] | None = None
    base_url: str | None = Field(default=None, max_length=500)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    api_key: str | None = Field(default=None, min_length=1, max_length=500)
    system_prompt: str | None = Field(default=None, min_length=1, max_length=2000)
    max_chars: int | None = Field(default=None, ge=20, le=4000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    cooldown: float | None = Field(default=None, ge=0, le=86_400)
    community_budget: int | None = Field(default=None, ge=0, le=100_000_000)
    user_budget: int | None = Field(default=None, ge=0, le=100_000_000)
    memory_turns: int | None = Field(default=None, ge=0, le=20)
    memory_ttl: int | None = Field(default=None, ge=60, le=7 * 86_400)
    block_list: list[str] | None = Field(default=None, max_length=200)
    mention: bool | None = None
    bot_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]{1,50}$")
    overlay: Overlay | None = None

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("base_url must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("block_list")
    @classmethod
    def _terms(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else check_block_list(value)


COLUMNS = tuple(name for name in SettingsPatch.model_fields if name != "api_key")


@dataclass(frozen=True, slots=True)
class McpServerInfo:
    id: str
    name: str
    transport: str
    command: str | None
    args: list[str]
    url: str | None
    allowed_tools: list[str]
    created_at: datetime

    def spec(self) -> McpServerSpec:
        return McpServerSpec(
            self.name, self.transport, self.command, self.args, self.url, self.allowed_tools
        )


@dataclass(frozen=True, slots=True)
class UsageRow:
    user_id: str
    tokens: int
    answers: int


def today() -> date:
    return datetime.now(UTC).date()


def parse_patch(data: dict[str, Any]) -> SettingsPatch:
    """Validate ``data``; one readable sentence on the first problem."""
    try:
        return SettingsPatch.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        raise Invalid(f"{where}: {first['msg']}") from None


class AiBook:
    """The AI data of every community, in one database."""

    def __init__(
        self, db: ModuleDatabase, installation: Installation, secrets: SecretOperations | None
    ) -> None:
        self.db = db
        self.installation = installation
        self.secrets = secrets

    # --- settings -----------------------------------------------------------------------

    async def row(self, community_id: str) -> AiSettings | None:
        async with self.db.read_session() as session:
            return await session.get(AiSettings, community_id)

    async def config(self, community_id: str, *, with_key: bool = True) -> AiConfig:
        """The effective settings (``with_key``: unseal the community's key for a call)."""
        return self._effective(await self.row(community_id), with_key=with_key)

    def _effective(self, row: AiSettings | None, *, with_key: bool) -> AiConfig:
        base = self.installation
        own = row is not None and (row.provider is not None or row.base_url is not None)
        provider = (row.provider if row else None) or base.provider
        sealed = row.api_key_sealed if row else None
        if own:
            # never send the installation's key to an endpoint a community chose
            key = self._unseal(sealed) if sealed and with_key else None
            base_url = row.base_url if row else None
        else:
            key = (self._unseal(sealed) if sealed and with_key else None) or base.api_key
            base_url = base.base_url
        model = (row.model if row else None) or base.model
        provider_config = (
            ProviderConfig(provider, model, base_url, key)  # type: ignore[arg-type]
            if provider and model
            else None
        )
        values: dict[str, Any] = {}
        if row is not None:
            for name in COLUMNS:
                value = getattr(row, name)
                if value is not None and name in AiConfig.__dataclass_fields__:
                    values[name] = value
        values.pop("provider", None)
        return AiConfig(
            provider=provider_config,
            has_key=bool(sealed) or (not own and bool(base.api_key)),
            own_provider=own,
            **values,
        )

    def _unseal(self, sealed: str) -> str | None:
        if self.secrets is None:
            return None
        try:
            return self.secrets.unseal(sealed)
        except Exception:  # a key sealed under a retired encryption key: treat as unset
            return None

    async def update(
        self, community_id: str, patch: SettingsPatch, who: str, *, replace: bool = False
    ) -> AiConfig:
        """Apply ``patch`` (``replace``: fields it does not name go back to the default)."""
        given = patch.model_fields_set
        if "api_key" in given and patch.api_key is not None and self.secrets is None:
            raise Invalid("This bot cannot store secrets here.")
        async with self.db.session() as session:
            await _known(session, community_id)
            row = await session.get(AiSettings, community_id)
            if row is None:
                row = AiSettings(community_id=community_id, mention=False)
                session.add(row)
            for name in COLUMNS:
                if name in given or replace:
                    value = getattr(patch, name)
                    if name == "mention":
                        value = bool(value)
                    setattr(row, name, value)
            if "api_key" in given or replace:
                key = patch.api_key
                row.api_key_sealed = self.secrets.seal(key) if key and self.secrets else None
            row.updated_by = who
            await session.flush()
            return self._effective(row, with_key=False)

    # --- MCP servers --------------------------------------------------------------------

    async def servers(self, community_id: str) -> list[McpServerInfo]:
        async with self.db.read_session() as session:
            rows = await session.scalars(
                select(AiMcpServer)
                .where(AiMcpServer.community_id == community_id)
                .order_by(AiMcpServer.name)
            )
            return [_server_info(row) for row in rows]

    async def add_server(
        self,
        community_id: str,
        *,
        name: str,
        command: str | None,
        args: list[str],
        url: str | None,
        allowed_tools: list[str],
        who: str,
    ) -> McpServerInfo:
        name = name.strip().lower()
        if not SERVER_NAME.match(name):
            raise Invalid("An MCP server name is 1–30 of a-z, 0-9, _ and -, starting a-z or 0-9.")
        if (command is None) == (url is None):
            raise Invalid("Give an MCP server either a command (stdio) or a url (HTTP).")
        if command is not None and command not in self.installation.mcp_commands:
            raise Invalid(
                "That command is not one this bot's operator allows as an MCP server "
                "(WADDLEBOT_AI_MCP_COMMANDS)."
            )
        if url is not None:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise Invalid("An MCP server url must be an http(s) URL.")
        for tool in allowed_tools:
            if not TOOL_NAME.match(tool):
                raise Invalid(f"{tool!r} is not a tool name.")
        async with self.db.session() as session:
            await _known(session, community_id)
            count = await session.scalar(
                select(func.count()).where(AiMcpServer.community_id == community_id)
            )
            taken = await session.scalar(
                select(AiMcpServer.id).where(
                    AiMcpServer.community_id == community_id, AiMcpServer.name == name
                )
            )
            if taken is not None:
                raise Conflict(f"There is already an MCP server named {name}.")
            if (count or 0) >= MAX_SERVERS:
                raise Conflict(f"A community can list at most {MAX_SERVERS} MCP servers.")
            row = AiMcpServer(
                community_id=community_id,
                name=name,
                transport="stdio" if command is not None else "http",
                command=command,
                args=list(args),
                url=url,
                allowed_tools=sorted(set(allowed_tools)),
                created_by=who,
            )
            session.add(row)
            await session.flush()
            return _server_info(row)

    async def remove_server(self, community_id: str, name: str) -> None:
        async with self.db.session() as session:
            gone = await session.execute(
                delete(AiMcpServer).where(
                    AiMcpServer.community_id == community_id, AiMcpServer.name == name.lower()
                )
            )
            if not getattr(gone, "rowcount", 0):
                raise NotFound(f"There is no MCP server named {name}.")

    # --- usage --------------------------------------------------------------------------

    async def spent(self, community_id: str, user_id: str, day: date) -> tuple[int, int]:
        """Tokens spent on ``day``: (the whole community, this user)."""
        async with self.db.read_session() as session:
            total = await session.scalar(
                select(func.coalesce(func.sum(AiUsage.tokens), 0)).where(
                    AiUsage.community_id == community_id, AiUsage.day == day
                )
            )
            mine = await session.scalar(
                select(AiUsage.tokens).where(
                    AiUsage.community_id == community_id,
                    AiUsage.day == day,
                    AiUsage.user_id == user_id,
                )
            )
        return int(total or 0), int(mine or 0)

    async def record(self, community_id: str, user_id: str, day: date, tokens: int) -> None:
        """Add ``tokens`` to the user's count for ``day`` (one atomic upsert)."""
        insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
        statement = insert(AiUsage).values(
            id=new_id(),
            community_id=community_id,
            day=day,
            user_id=user_id,
            tokens=tokens,
            answers=1,
        )
        statement = statement.on_conflict_do_update(
            index_elements=["community_id", "day", "user_id"],
            set_={
                "tokens": AiUsage.tokens + statement.excluded.tokens,
                "answers": AiUsage.answers + 1,
            },
        )
        async with self.db.session() as session:
            await session.execute(statement)

    async def usage(self, community_id: str, day: date) -> list[UsageRow]:
        async with self.db.read_session() as session:
            rows = await session.execute(
                select(AiUsage.user_id, AiUsage.tokens, AiUsage.answers)
                .where(AiUsage.community_id == community_id, AiUsage.day == day)
                .order_by(AiUsage.tokens.desc(), AiUsage.user_id)
            )
            return [UsageRow(user_id, tokens, answers) for user_id, tokens, answers in rows]


async def _known(session: AsyncSession, community_id: str) -> None:
    if await session.get(Community, community_id) is None:
        raise NotFound(f"There is no community {community_id}.")


def _server_info(row: AiMcpServer) -> McpServerInfo:
    return McpServerInfo(
        id=row.id,
        name=row.name,
        transport=row.transport,
        command=row.command,
        args=list(row.args or []),
        url=row.url,
        allowed_tools=list(row.allowed_tools or []),
        created_at=row.created_at,
    )


@on_user_merge
async def merge_usage(session: AsyncSession, absorbed_user_id: str, kept_user_id: str) -> None:
    """One person, one budget: the absorbed account's counts join the kept one's."""
    rows = (await session.scalars(select(AiUsage).where(AiUsage.user_id == absorbed_user_id))).all()
    for row in rows:
        kept = await session.scalar(
            select(AiUsage).where(
                AiUsage.community_id == row.community_id,
                AiUsage.day == row.day,
                AiUsage.user_id == kept_user_id,
            )
        )
        if kept is None:
            await session.execute(
                update(AiUsage).where(AiUsage.id == row.id).values(user_id=kept_user_id)
            )
        else:
            kept.tokens += row.tokens
            kept.answers += row.answers
            await session.delete(row)


async def mention_communities(db: ModuleDatabase) -> list[str]:
    """The communities with ``@bot`` mentions on."""
    async with db.read_session() as session:
        found = await session.scalars(
            select(AiSettings.community_id).where(AiSettings.mention.is_(True))
        )
        return list(found)
