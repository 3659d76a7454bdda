"""Core tables. Services own their queries; the schema lives here so migrations have one source."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from waddlebot.kernel.ids import new_id as new_id  # re-exported: services import it from here


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A datetime read back from the database, made aware: SQLite hands datetimes back naive,
    and every time WaddleBot stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base; naming convention keeps constraint names stable across databases."""

    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


Base.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Community(Base):
    """A community: owns channels on any platform and one set of commands and members."""

    __tablename__ = "communities"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    # IANA zone for times typed in chat; NULL: WADDLEBOT_DEFAULT_TIMEZONE (0002_community_timezone)
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Entity(Base):
    """A platform place (server + channel) and the community it belongs to."""

    __tablename__ = "entities"
    __table_args__ = (UniqueConstraint("platform", "server_id", "channel_id"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    platform: Mapped[str] = mapped_column(String(20))
    server_id: Mapped[str] = mapped_column(String(200))
    channel_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """One person, however many platform accounts they link."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Accounts (portal login). NULL password: no password login (chat-only or OAuth users).
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # "person", or "service" for service accounts (collectors, modules) that hold API keys.
    kind: Mapped[str] = mapped_column(String(20), default="person")


class PlatformIdentity(Base):
    """A platform account; belongs to exactly one user."""

    __tablename__ = "platform_identities"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    platform_user_id: Mapped[str] = mapped_column(String(200))
    username: Mapped[str] = mapped_column(String(200))  # the latest name seen (names change)
    # Where the account was last seen (Slack team id: a DM needs the workspace's token).
    server_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Membership(Base):
    """A user's role in a community (owner › admin › moderator › member)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("community_id", "user_id"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20), default="member")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Command(Base):
    """A command trigger. ``community_id`` NULL means every community has it."""

    __tablename__ = "commands"
    __table_args__ = (UniqueConstraint("community_id", "prefix", "trigger"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str | None] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    prefix: Mapped[str] = mapped_column(String(1), default="!")
    trigger: Mapped[str] = mapped_column(String(100))
    module: Mapped[str] = mapped_column(String(100), index=True)
    usage: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(String(500), default="")
    min_role: Mapped[int] = mapped_column(Integer, default=0)
    # A named permission (rbac.PERMISSIONS) needed to run the command, and per subcommand.
    permission: Mapped[str | None] = mapped_column(String(64))
    subcommand_permissions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    user_cooldown: Mapped[float] = mapped_column(Float, default=0.0)
    global_cooldown: Mapped[float] = mapped_column(Float, default=0.0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CommandExecution(Base):
    """One command run: who, what, how it ended and how long each part took."""

    __tablename__ = "command_executions"
    __table_args__ = (
        Index("ix_command_executions_community_started", "community_id", "started_at"),
        # the daily roll-up and the retention prune read whole days of every community
        Index("ix_command_executions_started_at", "started_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    event_id: Mapped[str] = mapped_column(String(200))
    # Unknown (None) for an event abandoned before it was placed in a community.
    community_id: Mapped[str | None] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    entity_id: Mapped[str | None] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    trigger: Mapped[str] = mapped_column(String(101))
    module: Mapped[str | None] = mapped_column(String(100))
    # ok | refused | failed | timeout | limited | unavailable | abandoned
    status: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    queued_ms: Mapped[float] = mapped_column(Float, default=0.0)
    module_ms: Mapped[float] = mapped_column(Float, default=0.0)
    total_ms: Mapped[float] = mapped_column(Float, default=0.0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageCount(Base):
    """Chat messages a community received in one UTC hour. Counted in the router's memory and
    added here in batches (``router/activity.py``): a message never writes a row itself."""

    __tablename__ = "message_counts"
    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[datetime] = mapped_column(primary_key=True)  # the hour's start, UTC
    count: Mapped[int] = mapped_column(Integer, default=0)


class CommandUsageDaily(Base):
    """Commands a community ran on one UTC day, by command, module, platform and outcome:
    the daily roll-up of ``command_executions`` (``stats/rollup.py``), kept after the raw rows
    are pruned. ``module`` and ``platform`` are ``""`` when unknown (key columns)."""

    __tablename__ = "command_usage_daily"
    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    trigger: Mapped[str] = mapped_column(String(101), primary_key=True)
    module: Mapped[str] = mapped_column(String(100), primary_key=True)
    platform: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    runs: Mapped[int] = mapped_column(Integer)


class CommunityUsageDaily(Base):
    """Per community and UTC day what cannot be summed from :class:`CommandUsageDaily`:
    distinct platform accounts that spoke (active chatters) and distinct people who ran a
    command."""

    __tablename__ = "community_usage_daily"
    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    chatters: Mapped[int] = mapped_column(Integer)
    command_users: Mapped[int] = mapped_column(Integer)


class ChatterDay(Base):
    """Someone spoke (a chat line or slash command) in a community on a UTC day. Collected in
    the router's memory and written once per account and day in batches with the message
    counts (``router/activity.py``); ``account`` is a hash of ``platform:account id``. Pruned
    with the raw execution rows once rolled up into :class:`CommunityUsageDaily`."""

    __tablename__ = "chatter_days"
    community_id: Mapped[str] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    account: Mapped[str] = mapped_column(String(32), primary_key=True)


class UsageRollup(Base):
    """How far the daily roll-up got: every UTC day before ``through`` is rolled up (for all
    communities). One row (``name = "daily"``); moved by compare-and-set, so several router
    processes never roll up one day twice, and raw rows are pruned only before it."""

    __tablename__ = "usage_rollups"
    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    through: Mapped[date] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """A machine credential: only a hash is stored; the key is shown once at creation."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    lookup: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()


class CommunityRoleGrant(Base):
    """The permissions one community gives one of its roles (overrides the defaults)."""

    __tablename__ = "community_role_grants"
    __table_args__ = (UniqueConstraint("community_id", "role"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Label(Base):
    """A community's label; applying it to a user may grant permissions."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("community_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    colour: Mapped[str] = mapped_column(String(7), default="#808080")
    description: Mapped[str] = mapped_column(String(300), default="")
    system: Mapped[bool] = mapped_column(Boolean, default=False)
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LabelAssignment(Base):
    """A label on a user, entity, module or item of the community, until ``expires_at``."""

    __tablename__ = "label_assignments"
    __table_args__ = (
        UniqueConstraint("label_id", "target_type", "target_id"),
        Index("ix_label_assignments_target", "community_id", "target_type", "target_id"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    label_id: Mapped[str] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"), index=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    target_type: Mapped[str] = mapped_column(String(20))  # user | entity | module | item
    target_id: Mapped[str] = mapped_column(String(200))
    extra: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    expires_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditRecord(Base):
    """One AUTH/AUTHZ/AUDIT decision about a community, kept for the audit page (pruned after
    ``WADDLEBOT_AUDIT_RETENTION_DAYS``). No foreign keys: a denied look at a community that
    does not exist, or a caller that is a key and not a user, is worth keeping too."""

    __tablename__ = "audit_records"
    __table_args__ = (Index("ix_audit_records_community_at", "community_id", "at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    category: Mapped[str] = mapped_column(String(10))
    action: Mapped[str] = mapped_column(String(200))
    result: Mapped[str] = mapped_column(String(50))
    community_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(200))
    via: Mapped[str | None] = mapped_column(String(50))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
