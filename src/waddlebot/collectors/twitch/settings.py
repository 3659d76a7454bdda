"""Twitch configuration from ``WADDLEBOT_TWITCH_*`` environment variables.

Kept apart from the kernel settings so the collector owns its knobs; every pace, window and
timeout is configurable so tests (and proxies) can shrink or redirect them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Scopes the bot account grants through /auth/twitch/login.
BOT_SCOPES: tuple[str, ...] = (
    "user:read:chat",
    "user:write:chat",
    "user:bot",
    "user:manage:whispers",
    "moderator:read:followers",
    "moderator:manage:shoutouts",
)


class TwitchSettings(BaseSettings):
    """Every Twitch knob. Unset ``client_id`` means the collector stays idle."""

    model_config = SettingsConfigDict(env_prefix="WADDLEBOT_TWITCH_", extra="ignore")

    client_id: str | None = None
    client_secret: str | None = None
    eventsub_secret: str | None = Field(default=None, min_length=10, max_length=100)
    bot_user_id: str | None = None
    api_base: str = "https://api.twitch.tv/helix"
    auth_base: str = "https://id.twitch.tv/oauth2"
    http_timeout: float = Field(default=10.0, gt=0)

    # Webhook: replay window and how long message ids are remembered.
    max_message_age: float = Field(default=600.0, gt=0)
    dedupe_ttl: float = Field(default=24 * 3600.0, gt=0)

    # OAuth: how long a login ``state`` is valid; refresh user tokens this early.
    state_max_age: int = Field(default=600, ge=1)
    refresh_margin: float = Field(default=300.0, ge=0)

    # Chat pacing (Twitch: 20 / 30 s, 100 / 30 s where the bot is moderator or broadcaster).
    chat_limit: int = Field(default=20, ge=1)
    chat_limit_moderator: int = Field(default=100, ge=1)
    chat_window: float = Field(default=30.0, gt=0)
    account_limit: int = Field(default=100, ge=1, description="messages per account per window")
    whisper_limit: int = Field(default=100, ge=1, description="whispers per whisper window")
    whisper_window: float = Field(default=60.0, gt=0)

    # Transient failures (5xx, network): retries inside one delivery, exponential backoff.
    send_retries: int = Field(default=3, ge=0)
    retry_backoff: float = Field(default=0.5, ge=0)
    max_hold: float = Field(default=60.0, gt=0, description="cap on a 429 back-off")
    # A message whose delivery failed (retries exhausted) is handed out again after this long.
    redelivery_after: float = Field(default=120.0, gt=0)

    # How EventSub reaches us: ``webhook`` (needs a public URL), ``websocket`` (one session
    # per installation, no public URL: a computer at home), ``conduit`` (shards shared out
    # over every collector instance through the coordinator).
    transport: Literal["webhook", "websocket", "conduit"] = "webhook"
    eventsub_ws_url: str = "wss://eventsub.wss.twitch.tv/ws"
    # Asked of Twitch on connect (10-600 s); silence past Twitch's answer plus the margin
    # means the connection is dead: reconnect.
    eventsub_keepalive: int = Field(default=30, ge=10, le=600)
    eventsub_keepalive_margin: float = Field(default=5.0, ge=0)
    # Twitch caps: enabled subscriptions per WebSocket session, sessions per user.
    websocket_max_subscriptions: int = Field(default=300, ge=1, le=300)
    websocket_max_connections: int = Field(default=3, ge=1, le=3)
    conduit_shards: int = Field(default=4, ge=1, le=20_000)

    # Reply as a thread under the triggering chat message.
    reply_in_thread: bool = False
    # Periodic EventSub reconciliation (seconds; 0 switches it off).
    reconcile_interval: float = Field(default=900.0, ge=0)

    @field_validator("api_base", "auth_base")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def configured(self) -> bool:
        """True when Helix calls are possible: app credentials, or — over the WebSocket
        transport — a public client's id alone (every call then goes with the bot's token)."""
        public = self.transport == "websocket"
        return bool(self.client_id and (self.client_secret or public))
