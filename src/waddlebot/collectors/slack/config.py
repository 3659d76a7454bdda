"""Slack settings, read from ``WADDLEBOT_SLACK_*`` (the kernel settings stay untouched)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from waddlebot.kernel.contracts import Role
from waddlebot.kernel.contracts.roles import parse_role_map

DEFAULT_SCOPES = (
    "app_mentions:read,channels:history,groups:history,im:history,mpim:history,chat:write,"
    "commands,im:write,users:read,usergroups:read"
)


class SlackSettings(BaseSettings):
    """How WaddleBot talks to Slack. See docs/slack.md."""

    model_config = SettingsConfigDict(env_prefix="WADDLEBOT_SLACK_", extra="ignore")

    signing_secret: str | None = None
    # One workspace: a bot token (xoxb-…). Several: leave unset and use the OAuth install flow.
    bot_token: str | None = None
    # An app-level token (xapp-…, scope connections:write) switches on Socket Mode: events and
    # slash commands arrive over an outgoing WebSocket, no public URL needed.
    app_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scopes: str = DEFAULT_SCOPES
    api_base: str = "https://slack.com/api/"
    authorize_url: str = "https://slack.com/oauth/v2/authorize"
    # User group id (S…) or handle → role, e.g. "S0MODS=moderator,vips=vip".
    user_groups: Annotated[dict[str, Role], NoDecode] = Field(default_factory=dict)
    replay_window: int = Field(default=300, ge=1, le=3600)
    channel_rate: int = Field(default=1, ge=1, description="messages per channel per second")
    role_cache_ttl: float = Field(default=300.0, gt=0)
    lookup_timeout: float = Field(default=1.0, gt=0, le=2.0)
    max_retry_after: float = Field(default=60.0, gt=0)
    socket_ping_interval: float = Field(default=5.0, gt=0, le=60)
    socket_timeout: float = Field(
        default=30.0, gt=0, description="seconds without a socket before the task restarts"
    )

    @field_validator("user_groups", mode="before")
    @classmethod
    def _groups(cls, value: object) -> object:
        return parse_role_map(value)

    @field_validator("api_base")
    @classmethod
    def _slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("app_token")
    @classmethod
    def _app_token(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith("xapp-"):
            raise ValueError(
                "an app-level token starts with xapp- (Basic Information → App-Level Tokens)"
            )
        return value
