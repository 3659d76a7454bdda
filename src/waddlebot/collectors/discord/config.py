"""Discord settings, read from ``WADDLEBOT_DISCORD_*`` (the kernel settings stay untouched)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from waddlebot.kernel.contracts import Role
from waddlebot.kernel.contracts.roles import parse_role_map


class DiscordSettings(BaseSettings):
    """How WaddleBot talks to Discord. See docs/discord.md."""

    model_config = SettingsConfigDict(env_prefix="WADDLEBOT_DISCORD_", extra="ignore")

    bot_token: str | None = None
    application_id: str | None = None
    public_key: str | None = None
    api_base: str = "https://discord.com/api/v10"
    # Discord role name or id → role, e.g. "Moderators=moderator,VIP=vip".
    role_map: Annotated[dict[str, Role], NoDecode] = Field(default_factory=dict)
    replay_window: int = Field(default=300, ge=1, le=3600)
    # How long an interaction waits for the module before answering "thinking…" (type 5).
    inline_wait: float = Field(default=1.0, ge=0, le=2.0)
    global_rate: int = Field(default=50, ge=1, description="REST requests per second")
    max_retry_after: float = Field(default=60.0, gt=0)
    # The gateway worker asks for member join/leave (GUILD_MEMBERS, a privileged intent).
    member_events: bool = True
    # Gateway shards shared by every `serve discord-gateway` process; unset: Discord's
    # recommendation from GET /gateway/bot (see collectors/discord/shards.py).
    shard_count: int | None = Field(default=None, ge=1, le=10_000)

    @field_validator("role_map", mode="before")
    @classmethod
    def _roles(cls, value: object) -> object:
        return parse_role_map(value, fold_case=True)

    @field_validator("api_base")
    @classmethod
    def _no_slash(cls, value: str) -> str:
        return value.rstrip("/")
