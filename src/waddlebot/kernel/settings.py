"""Configuration from ``WADDLEBOT_*`` environment variables.

One settings object drives both ways of running: unset URLs select the embedded backends
(SQLite in the data directory, in-memory cache and queues); set URLs select PostgreSQL and
Redis. Business logic never branches on "embedded".
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from waddlebot.kernel.security.secrets_box import SecretBox

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SECRET_KEY_FILE = "secret.key"  # noqa: S105 - a file name, not a secret


class Settings(BaseSettings):
    """Every knob WaddleBot reads. See the configuration table in the README."""

    model_config = SettingsConfigDict(env_prefix="WADDLEBOT_", extra="ignore")

    data_dir: Path = Path(".waddlebot")
    database_url: str | None = None
    database_replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Seconds a replica may be behind the primary and still serve reads (checked every second).
    database_replica_max_lag: float = Field(default=5.0, gt=0, le=3600)
    redis_url: str | None = None
    redis_namespace: str = Field(default="wb", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    secret_key: str | None = None
    # Fernet keys for secrets at rest, newest first; unset: derived from the secret key.
    encryption_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The base URL platforms (webhooks, OAuth redirects) and browsers reach this install at.
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"

    # Where other services live in distributed mode. Unset: the service is mounted in this
    # process and calls go through an in-process (ASGI) transport with the same client.
    router_url: str | None = None

    # Playground collector: "on" = served to admin keys, superusers' sessions and our own
    # services (``waddlebot chat`` signs in with the secret key); "off" = not served.
    # "auto"/"key" (earlier releases) mean "on".
    playground: Literal["on", "off"] = "on"
    playground_reply_timeout: float = Field(default=5.0, gt=0, le=60)
    # Unsolicited playground messages (scheduled jobs, late replies) kept per channel.
    playground_history: int = Field(default=100, ge=1, le=10_000, description="per channel")

    # Router tuning.
    # Events in flight per router; unset: 8 embedded, 32 with Redis (see worker_slots).
    router_workers: int | None = Field(default=None, ge=1, le=256)
    router_queue_max: int = Field(default=10_000, ge=1)
    router_visibility_timeout: float = Field(default=30.0, gt=0)
    module_timeout: float = Field(default=5.0, gt=0)
    session_ttl: int = Field(default=3600, ge=1)
    outbound_queue_max: int = Field(default=10_000, ge=1)
    # Chat messages per hour (the portal's chart) are counted in memory and written this often.
    message_count_interval: float = Field(default=60.0, gt=0, le=3600, description="seconds")

    # Scheduler (every router process runs its loop).
    scheduler_poll_interval: float = Field(default=5.0, gt=0, le=3600, description="seconds")
    scheduler_lease: float = Field(default=60.0, gt=0, description="seconds a claimed job is held")
    scheduler_max_attempts: int = Field(default=5, ge=1, le=100)
    scheduler_retry_delay: float = Field(default=5.0, gt=0, description="seconds, doubling")
    # Coordination (leases on items shared out between instances; kernel/coordination).
    lease_ttl: float = Field(default=30.0, gt=0, le=3600, description="seconds")
    heartbeat_interval: float | None = Field(
        default=None, gt=0, description="seconds; unset: a third of the lease TTL"
    )
    instance_id: str | None = Field(
        default=None, pattern=r"^[!-~]{1,200}$", description="unset: hostname-pid"
    )
    # Communities without their own time zone (!timezone) read wall-clock times in this one.
    default_timezone: str = Field(default="UTC", description="IANA name, e.g. Europe/Berlin")
    # Timers (!timer): the shortest interval a community may set.
    timer_min_interval: float = Field(default=60.0, gt=0, description="seconds")
    rate_limit_user: int = Field(default=20, ge=1, description="commands per user per window")
    rate_limit_entity: int = Field(default=100, ge=1, description="commands per channel per window")
    rate_limit_window: float = Field(default=30.0, gt=0)

    # AI chat (!ai): the installation's default provider; admins override it per community.
    ai_provider: Literal["openai", "ollama"] | None = Field(
        default=None, description="openai (any OpenAI-compatible endpoint) or ollama; unset: off"
    )
    ai_base_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL or Ollama host; unset: the default"
    )
    ai_api_key: str | None = Field(default=None, description="key for the OpenAI-compatible API")
    ai_model: str | None = Field(default=None, description="model name, e.g. gpt-4o-mini, llama3.2")
    ai_timeout: float = Field(
        default=20.0, gt=0, le=300, description="seconds per answer (capped by module_timeout)"
    )
    # Programs community admins may start as stdio MCP servers (a stdio server runs on this
    # host, so the operator decides which); empty: only streamable-HTTP MCP servers.
    ai_mcp_commands: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated executables allowed as stdio MCP servers"
    )
    # Audit page: AUTH/AUTHZ/AUDIT decisions per community are kept this long.
    audit_retention_days: int = Field(default=30, ge=1, le=3650, description="days")
    # Usage statistics: raw execution-log rows are kept this long, then deleted once rolled up
    # into daily totals (kept). At least 7: the portal's hourly chart reads 7 days of raw rows.
    execution_retention_days: int = Field(default=90, ge=7, le=36_500, description="days")

    # Labels.
    labels_per_community: int = Field(default=100, ge=1, le=10_000, description="labels")
    labels_per_user: int = Field(default=25, ge=1, le=1_000, description="per community")

    # Accounts and sessions (portal login, API keys, Kong). See docs/accounts.md.
    login_session_ttl: int = Field(default=7 * 24 * 3600, ge=60, description="seconds, sliding")
    api_keys_per_user: int = Field(default=10, ge=1, le=1_000, description="active keys")
    login_attempts_per_email: int = Field(default=10, ge=1, description="per login window")
    login_attempts_per_ip: int = Field(default=50, ge=1, description="per login window")
    login_window: float = Field(default=900.0, gt=0, description="seconds")
    oauth_state_max_age: int = Field(default=600, ge=10, le=3600, description="seconds")
    trust_kong_headers: bool = False
    # Addresses/CIDRs Kong calls from; consumer headers from anywhere else are ignored.
    kong_trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Kong Admin Broker (`serve kong-broker`, docs in ARCHITECTURE "Kong"): new API keys keep a
    # copy sealed with the secret box (set on every process that creates keys), which the
    # broker gives Kong as the consumer's key-auth credential through the Admin API.
    kong_consumers: bool = False
    kong_admin_url: str | None = None  # e.g. http://kong:8001; unset: the broker idles
    kong_reconcile_interval: float = Field(default=15.0, ge=1.0, le=3600.0, description="seconds")
    kong_admin_timeout: float = Field(default=10.0, gt=0, le=120.0, description="seconds")
    # OAuth login apps; unset: the collectors' WADDLEBOT_TWITCH_/SLACK_CLIENT_ID/SECRET.
    oauth_twitch_client_id: str | None = None
    oauth_twitch_client_secret: str | None = None
    oauth_discord_client_id: str | None = None  # unset: WADDLEBOT_DISCORD_APPLICATION_ID
    oauth_discord_client_secret: str | None = None
    oauth_slack_client_id: str | None = None
    oauth_slack_client_secret: str | None = None
    oauth_twitch_auth_base: str = "https://id.twitch.tv/oauth2"
    oauth_twitch_api_base: str = "https://api.twitch.tv/helix"
    oauth_discord_base: str = "https://discord.com"
    oauth_slack_base: str = "https://slack.com"
    # Spotify song requests (music module): the app's id/secret (PKCE needs no secret; it is
    # sent only when set) and the API roots, configurable so tests and proxies can redirect.
    spotify_client_id: str | None = None
    spotify_client_secret: str | None = None
    spotify_api_base: str = "https://api.spotify.com/v1"
    spotify_accounts_base: str = "https://accounts.spotify.com"

    # Song requests (music module): YouTube Data API v3 and the player overlay's IFrame API.
    youtube_api_key: str | None = None
    youtube_api_base: str = "https://www.googleapis.com/youtube/v3"
    youtube_region: str = Field(default="US", pattern=r"^[A-Z]{2}$", description="ISO 3166-1")
    youtube_iframe_api_url: str = "https://www.youtube.com/iframe_api"

    # Module execution engines (marketplace modules).
    module_max_concurrency: int = Field(default=32, ge=1, le=10_000, description="per module")
    module_breaker_failures: int = Field(default=5, ge=1, description="failures that open it")
    module_breaker_reset: float = Field(default=30.0, gt=0, description="seconds until a retry")
    # Where remote modules reach this router's host API (durable storage); unset: public_url.
    module_host_url: str | None = None
    aws_endpoint_url: str | None = None  # e.g. a LocalStack/moto URL; unset: AWS itself
    aws_region: str = "us-east-1"
    # Object storage (overlay images and sounds, exports, backups). Unset bucket: files in
    # <data dir>/objects. Set: that S3 bucket (AWS, MinIO, …); credentials from the standard
    # AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, shared files, instance/pod roles).
    s3_bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    s3_endpoint_url: str | None = Field(
        default=None, description="e.g. http://minio:9000; unset: AWS itself"
    )
    s3_region: str | None = Field(default=None, description="unset: WADDLEBOT_AWS_REGION")
    openwhisk_api_host: str | None = None  # https://openwhisk.example.com
    openwhisk_auth: str | None = None  # the namespace's API key, "uuid:key"
    openwhisk_namespace: str = "_"

    @field_validator(
        "database_replica_urls",
        "encryption_keys",
        "kong_trusted_proxies",
        "ai_mcp_commands",
        mode="before",
    )
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from waddlebot.kernel.timezones import canonical_zone

        return canonical_zone(value)  # ValueError → a clear settings error

    @field_validator("kong_trusted_proxies")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        """Fail at start-up on a typo rather than silently trusting nobody (or everybody)."""
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)  # ValueError → a clear settings error
        return value

    @model_validator(mode="after")
    def _lease_outlasts_a_run(self) -> Settings:
        """A lease shorter than a module call would let a second process run the same job."""
        if self.scheduler_lease <= self.module_timeout:
            raise ValueError(
                "WADDLEBOT_SCHEDULER_LEASE must be longer than WADDLEBOT_MODULE_TIMEOUT "
                f"({self.scheduler_lease:g} <= {self.module_timeout:g})"
            )
        return self

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> Settings:
        """A heartbeat slower than the lease would let every lease lapse between beats."""
        if self.heartbeat_interval is not None and self.heartbeat_interval >= self.lease_ttl:
            raise ValueError(
                "WADDLEBOT_HEARTBEAT_INTERVAL must be shorter than WADDLEBOT_LEASE_TTL "
                f"({self.heartbeat_interval:g} >= {self.lease_ttl:g})"
            )
        return self

    @property
    def resolved_heartbeat_interval(self) -> float:
        """The heartbeat interval; a third of the lease TTL by default."""
        return self.heartbeat_interval or self.lease_ttl / 3

    @cached_property
    def resolved_instance_id(self) -> str:
        """This process's name among instances: the setting, else ``<hostname>-<pid>``."""
        return self.instance_id or f"{socket.gethostname()}-{os.getpid()}"

    @field_validator("playground", mode="before")
    @classmethod
    def _legacy_playground(cls, value: object) -> object:
        return "on" if value in ("auto", "key") else value

    @property
    def worker_slots(self) -> int:
        """Events a router processes at once: ``router_workers``, else 32 with Redis, where
        more in flight share round trips (auto-pipelining: 2,600 → 3,800 chat lines/s from 8
        to 32), and 8 embedded, where 32 measured the same."""
        if self.router_workers is not None:
            return self.router_workers
        return 32 if self.redis_url else 8

    @cached_property
    def resolved_database_url(self) -> str:
        """The primary database URL; SQLite in the data directory by default."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        from waddlebot.kernel.settings_check import usable_data_dir

        usable_data_dir(self.data_dir)  # one clear line now rather than a traceback later
        return f"sqlite+aiosqlite:///{(self.data_dir / 'waddlebot.db').resolve()}"

    @cached_property
    def resolved_secret_key(self) -> str:
        """The secret key, generated once and kept in the data directory when unset."""
        if self.secret_key:
            return self.secret_key
        return load_or_create_secret(self.data_dir / SECRET_KEY_FILE)

    @cached_property
    def secret_box(self) -> SecretBox:
        """Encrypts and decrypts secrets stored in the database."""
        return SecretBox.from_settings(self.resolved_secret_key, self.encryption_keys)

    @property
    def uses_data_dir(self) -> bool:
        """True when the data directory holds something: the SQLite database or the secret key."""
        return not (self.database_url and self.secret_key)

    @property
    def is_loopback_bind(self) -> bool:
        return self.host in LOOPBACK_HOSTS


def normalise_database_url(url: str) -> str:
    """Pick the async driver for plain ``postgresql://`` and ``sqlite://`` URLs."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def load_or_create_secret(path: Path) -> str:
    """Read the secret from ``path``, creating it (mode 0600) on first use."""
    from waddlebot.kernel.settings_check import SettingInvalid, usable_data_dir

    try:
        if path.exists():
            return path.read_text().strip()
    except OSError as error:
        raise SettingInvalid(
            f"WADDLEBOT_DATA_DIR={str(path.parent)!r} is unusable: {path.name} cannot be read "
            f"({error.strerror}); expected a directory this user can read and write, "
            "or set WADDLEBOT_SECRET_KEY"
        ) from None
    usable_data_dir(path.parent)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret
